export * from './key-index.js';
export * from './key-verifier.js';
export * from './live-key-projection.js';
export * from './verifier-fence.js';
export * from './projection-metrics.js';
export * from './key-index-snapshot.js';
export * from './projection-snapshot-store.js';
export * from './migrations/projection-snapshots.migrations.js';
