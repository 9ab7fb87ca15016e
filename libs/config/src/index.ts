export * from './service-config.js';
export * from './database-roles.js';
export * from './database-logins.js';
export * from './siem-sinks.js';
