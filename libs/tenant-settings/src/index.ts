/**
 * A tenant's settings (rotation and incident policies, anomaly thresholds, owners' public keys and webhooks): the
 * commands that change them through the domain's tenant decider, and the read that folds them.
 */
export * from './tenant-stream.js';
export * from './tenant-settings-commands.js';
