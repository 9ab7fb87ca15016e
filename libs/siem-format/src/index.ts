export * from './siem-record.js';
export * from './cef.js';
export * from './ocsf.js';
export * from './json-line.js';
export * from './rfc5424.js';
export * from './siem-formats.js';
export * from './alert-record.js';
export * from './verification-record.js';
