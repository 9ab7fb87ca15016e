export * from './process-ticks.js';
