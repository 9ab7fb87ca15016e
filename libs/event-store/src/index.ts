export * from './event-store.errors.js';
export * from './event-hash.js';
export * from './global-position.js';
export * from './postgres-event-store.js';
export * from './chain-verifier.js';
export * from './database.js';
export * from './migrations/event-store.migrations.js';
