export * from './nats-json.serializer.js';
export * from './nats-reply.js';
export * from './grpc-errors.js';
export * from './server-spans.js';
export * from './nats-command.js';
export * from './grpc-command.js';
export * from './api-errors.mapper.js';
export * from './parse-request.js';
