export * from './test-context.js';
export * from './test-events.js';
export * from './stream-reader.js';
export * from './service-process.js';
export * from './free-port.js';
export * from './nginx.js';
export * from './running-services.js';
