export * from './nats-json.serializer.js';
export * from './nats-reply.js';
