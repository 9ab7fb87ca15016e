export * from './event-envelope.js';
export * from './event-types.js';
export * from './subjects.js';
export * from './message-headers.js';
export * from './key-events.js';
export * from './api-errors.js';
export * from './key-api.js';
export * from './proto-files.js';
export * from './usage.js';
export * from './verifier-sync.js';
export * from './rotation-usage.js';
export * from './delivery-events.js';
export * from './delivery-api.js';
export * from './incident-events.js';
export * from './incident-api.js';
export * from './key-event-schemas.js';
/** The gRPC API's messages (package `keyledger.v1`), generated from proto/ by `npm run generate:grpc`. */
export type * as KeyledgerV1 from './generated/grpc/index.js';
