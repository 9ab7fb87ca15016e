export * from './key-history.js';
