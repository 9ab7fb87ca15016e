export * from './bus-topology.js';
export * from './nats-connection.js';
export * from './event-streams.js';
export * from './event-message.js';
export * from './message-tracing.js';
export * from './event-rejections.js';
export * from './consumption-keeper.js';
export * from './relay-heartbeat.js';
