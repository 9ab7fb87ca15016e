export * from './test-context.js';
export * from './test-events.js';
