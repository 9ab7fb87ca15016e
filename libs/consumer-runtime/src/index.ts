export * from './projection.js';
export * from './durable-consumer.js';
export * from './consumer-mode.js';
export * from './durable-event-consumer.js';
export * from './projection-rebuild.js';
export * from './redelivery-policy.js';
export * from './migrations/consumer-runtime.migrations.js';
export * from './consumer-metrics.js';
