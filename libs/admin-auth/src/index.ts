/**
 * Who may do what on the admin plane, and the context every command carries: the caller
 * (authenticated from an admin key, or the system itself), the admin permissions and the
 * metadata a command's events record.
 */
export * from './command-context.js';
export * from './admin-permissions.js';
export * from './admin-authenticator.js';
export * from './command-metadata.js';
