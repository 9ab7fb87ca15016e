export * from './key-history.js';
export * from './audit-search.js';
