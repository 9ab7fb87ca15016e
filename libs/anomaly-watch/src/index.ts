export * from './migrations/anomaly-watch.migrations.js';
export * from './anomaly-memory.js';
export * from './anomaly-watch.js';
export * from './detector-lock.js';
export * from './usage-observations.js';
export * from './tenant-thresholds-feed.js';
