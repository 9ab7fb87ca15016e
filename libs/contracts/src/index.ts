export * from './event-envelope.js';
export * from './event-types.js';
export * from './subjects.js';
export * from './message-headers.js';
export * from './key-events.js';
export * from './api-errors.js';
export * from './key-api.js';
export * from './proto-files.js';
