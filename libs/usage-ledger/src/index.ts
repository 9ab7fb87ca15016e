export * from './migrations/usage-ledger.migrations.js';
export * from './usage-ledger.js';
export * from './usage-consumer.js';
export * from './usage-batch-reader.js';
export * from './usage-export-reader.js';
