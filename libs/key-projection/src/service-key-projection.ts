import type { DataSource } from 'typeorm';
import { tracingConsumers } from '@keyledger/event-bus';
import type { Logger, Registry } from '@keyledger/observability';
import type { Pepper } from '@keyledger/key-secrets';
import { parsePeppers } from '@keyledger/key-secrets';
import { KeyIndex } from './key-index.js';
import type { LiveKeyProjectionDependencies } from './live-key-projection.js';
import { LiveKeyProjection, keyProjectionSnapshotting } from './live-key-projection.js';
import { registerProjectionMetrics } from './projection-metrics.js';

/** The settings of a service's environment that its key projection reads. */
export interface KeyProjectionEnv {
  readonly KEYLEDGER_HASH_PEPPERS: string;
  readonly KEYLEDGER_SNAPSHOT_EVERY_EVENTS: number;
  readonly KEYLEDGER_SNAPSHOT_CHECK_MS: number;
  readonly VERIFIER_MAX_BUS_SILENCE_MS: number;
  readonly VERIFIER_FAIL_CLOSED: boolean;
  readonly VERIFIER_MAX_STALENESS_MS: number;
}

/** What a service holds for its key projection. */
export interface ServiceKeyProjection {
  readonly index: KeyIndex;
  readonly peppers: readonly Pepper[];
  readonly projection: LiveKeyProjection;
}

/**
 * The key projection of a service (verifier, issuer, auditor, rotator), built the one way
 * they all need it: an index, snapshots when enabled, a span per event
 * applied from JetStream, and its metrics. Only verifiers announce what they applied (for
 * revocation fences). With `freshness` it judges from the relay's heartbeats whether it is
 * current (VERIFIER_MAX_STALENESS_MS) and fails closed when not.
 */
export function serviceKeyProjection(
  config: KeyProjectionEnv,
  context: {
    readonly instance: string;
    readonly infrastructure: Omit<LiveKeyProjectionDependencies, 'index' | 'logger' | 'clock' | 'snapshots'> & { readonly db: DataSource };
    readonly logger: Logger;
    readonly metrics: Registry;
  },
  options: { readonly announce: boolean; readonly snapshots: boolean; readonly freshness: boolean; readonly lagProbeMs?: number },
): ServiceKeyProjection {
  const { infrastructure, logger, metrics } = context;
  const index = new KeyIndex();
  const peppers = parsePeppers(config.KEYLEDGER_HASH_PEPPERS);
  const snapshots = options.snapshots
    ? keyProjectionSnapshotting(infrastructure.db, peppers, config.KEYLEDGER_SNAPSHOT_EVERY_EVENTS, config.KEYLEDGER_SNAPSHOT_CHECK_MS)
    : undefined;
  const projection = new LiveKeyProjection(
    // Each event applied from JetStream is a span of the trace of the command that caused it.
    { ...infrastructure, js: tracingConsumers(infrastructure.js, 'key-projection'), index, logger, snapshots },
    {
      instanceId: context.instance,
      maxBusSilenceMs: config.VERIFIER_MAX_BUS_SILENCE_MS,
      failClosed: config.VERIFIER_FAIL_CLOSED,
      heartbeatMs: 1000,
      catchUpBatchSize: 20_000,
      announce: options.announce,
      maxStalenessMs: options.freshness ? config.VERIFIER_MAX_STALENESS_MS : undefined,
      lagProbeMs: options.lagProbeMs,
    },
  );
  registerProjectionMetrics(metrics, projection);
  return { index, peppers, projection };
}
