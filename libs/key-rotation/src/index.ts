/**
 * Rotation of keys and delivery of the new key to its owner: a rotation on request
 * (`KeyRotation`), the rotator's scheduled rotations by policy and early ends of quiet graces,
 * the passes over keys they make, and the delivery of rotated keys until acknowledged
 * (`KeyDeliveries`, and the rotator's `DeliveryRetries`).
 */
export * from './key-rotation.js';
export * from './key-pass.js';
export * from './scheduled-rotation.js';
export * from './quiet-grace.js';
export * from './key-deliveries.js';
export * from './delivery-retries.js';
