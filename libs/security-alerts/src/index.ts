export * from './migrations/security-alerts.migrations.js';
export * from './security-alert-log.js';
export * from './security-alert-consumer.js';
