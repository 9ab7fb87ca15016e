export * from './bus-permissions.js';
export * from './identities.js';
export * from './auth-store.js';
export * from './creds-file.js';
export * from './kubernetes-manifests.js';
