export * from './peppers.js';
export * from './key-hasher.js';
