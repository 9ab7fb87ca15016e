export * from './key-candidates.js';
export * from './leak-scanner.js';
