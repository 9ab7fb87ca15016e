export * from './anomaly-settings.js';
export * from './key-baseline.js';
export * from './source-network.js';
export * from './network-table.js';
export * from './anomaly-detector.js';
export * from './anomaly-findings.js';
