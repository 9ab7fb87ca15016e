export * from './key-status.js';
export * from './key-lifecycle.js';
export * from './domain-error.js';
