export * from './bus-topology.js';
// Connecting lives apart, so the CLI can connect without loading tracing and the rest of the bus.
export * from '@keyledger/nats-connection';
export * from './event-streams.js';
export * from './event-message.js';
export * from './message-tracing.js';
export * from './event-rejections.js';
export * from './consumption-keeper.js';
export * from './relay-heartbeat.js';
