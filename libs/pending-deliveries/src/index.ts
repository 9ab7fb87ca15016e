export * from './migrations/pending-deliveries.migrations.js';
export * from './pending-deliveries.js';
