export * from './live-key-state.js';
export * from './live-key.js';
