export * from './wall-clock-ticks.js';
