export * from './sealed-key.errors.js';
export * from './x25519-keys.js';
export * from './sealed-key.js';
export * from './sealed-key.publisher.js';
export * from './webhook-signature.js';
export * from './webhook-sender.js';
export * from './delivery-signature.js';
