export * from './parse-request.js';
export * from './key-view.js';
export * from './admin-authenticator.js';
export * from './key-management.js';
export * from './admin-permissions.js';
export * from './scheduled-rotation.js';
export * from './key-deliveries.js';
export * from './delivery-retries.js';
