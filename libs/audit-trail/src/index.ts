export * from './audit-trail-partitions.js';
export * from './audit-trail.projection.js';
export * from './migrations/audit-trail.migrations.js';
