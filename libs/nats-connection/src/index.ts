export * from './nats-connection.js';
export * from './message-limit.js';
