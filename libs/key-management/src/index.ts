export * from './parse-request.js';
export * from './key-view.js';
export * from './admin-authenticator.js';
export * from './key-management.js';
