export * from './domain-error.js';
export * from './key-format.js';
export * from './scopes.js';
export * from './ip-allowlist.js';
export * from './key-status.js';
export * from './key-record.js';
export * from './key-decider.js';
export * from './verify-key.js';
