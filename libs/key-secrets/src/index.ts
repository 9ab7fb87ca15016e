export * from './peppers.js';
export * from './key-hasher.js';
export * from './snapshot-seal.js';
export * from './key-fingerprints.js';
export * from './webhook-secrets.js';
export * from './delivery-signing-keys.js';
export * from './ed25519-keys.js';
