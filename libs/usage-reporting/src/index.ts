export * from './usage-queries.js';
export * from './last-use-client.js';
export * from './last-used-answer.js';
export * from './permission-report.js';
