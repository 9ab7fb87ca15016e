export * from './peppers.js';
export * from './key-hasher.js';
export * from './snapshot-seal.js';
