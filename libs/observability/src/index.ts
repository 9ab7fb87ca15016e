export * from './logger.js';
export * from './telemetry.js';
export * from './metrics.js';
export * from './tracing.js';
export * from './hot-path-histogram.js';
