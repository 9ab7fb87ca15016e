export * from './tokens.js';
export * from './infrastructure.js';
export * from './health.registry.js';
export * from './operations.controller.js';
export * from './service-kit.module.js';
export * from './bootstrap-service.js';
export * from './status-responder.js';
export * from './grpc-api.js';
