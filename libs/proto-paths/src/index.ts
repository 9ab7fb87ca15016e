export * from './proto-paths.js';
