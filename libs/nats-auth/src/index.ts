export * from './bus-permissions.js';
export * from './identities.js';
export * from './auth-store.js';
