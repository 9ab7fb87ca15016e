export * from './outbox-relay.js';
export * from './relay-checkpoint.js';
export * from './relay-lease.js';
export * from './create-outbox-relay.js';
export * from './relay-metrics.js';
export * from './relay-heartbeat-publisher.js';
