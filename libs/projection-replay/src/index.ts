export * from './replay-report.js';
export * from './replay-audit-trail.js';
export * from './replay-key-index.js';
