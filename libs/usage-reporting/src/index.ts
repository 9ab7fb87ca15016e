export * from './usage-queries.js';
export * from './last-use-client.js';
