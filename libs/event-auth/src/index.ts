export * from './event-authenticator.js';
export * from './event-rejection.js';
export * from './alert-throttle.js';
export * from './event-content.js';
export * from './canonical-json.js';
export * from './sealed-message.js';
