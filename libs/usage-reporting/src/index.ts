export * from './usage-queries.js';
