export * from './merkle-tree.js';
export * from './signed-note.js';
export * from './checkpoint.js';
export * from './event-leaf.js';
export * from './transparency-log.errors.js';
export * from './postgres-transparency-log.js';
export * from './log-verifier.js';
export * from './migrations/transparency-log.migrations.js';
