export * from './key-history.js';
export * from './audit-search.js';
export * from './anomaly-findings.js';
