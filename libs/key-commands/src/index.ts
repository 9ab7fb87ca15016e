/**
 * The commands of a key's life and the admin API's reads of keys, each through one runner
 * (read the stream once, authorize, decide, append at the version read), and the root admin
 * key's bootstrap.
 */
export * from './key-stream.js';
export * from './key-view.js';
export * from './key-command-runner.js';
export * from './key-commands.js';
export * from './root-key-bootstrap.js';
export * from './tenant-key-quota.js';
