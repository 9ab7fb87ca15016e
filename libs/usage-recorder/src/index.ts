export * from './usage-buffer.js';
export * from './usage-groups.js';
export * from './usage-recorder.js';
export * from './usage-publisher.js';
export * from './usage-metrics.js';
export * from './usage-recording.js';
export * from './unknown-key-tally.js';
