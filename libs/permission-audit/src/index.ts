export * from './key-timeline.js';
export * from './permission-findings.js';
