import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import type { EventEnvelope } from '@keyledger/contracts';
import type { BusTopology } from '@keyledger/event-bus';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { EventAuthentication } from '@keyledger/event-auth';
import { DEFAULT_LEASE_RENEW_INTERVAL_MS, DEFAULT_LEASE_TTL_MS, RelayLease } from './relay-lease.js';
import type { OutboxRelaySettings } from './outbox-relay.js';
import { DEFAULT_RELAY_SETTINGS, OutboxRelay } from './outbox-relay.js';
import { RelayCheckpointStore } from './relay-checkpoint.js';

export interface OutboxRelayWiring {
  readonly store: PostgresEventStore;
  /** Pool for the checkpoint table. */
  readonly db: DataSource;
  /** Connection string for the lease's own session. */
  readonly databaseUrl: string;
  readonly schema: string;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The connection `js` publishes on. */
  readonly nc: NatsConnection;
  readonly topology: BusTopology;
  readonly logger: Logger;
  readonly auth: EventAuthentication;
  /** Names one relay; relays with the same name in one schema share leadership. */
  readonly name?: string;
  readonly settings?: Partial<OutboxRelaySettings>;
  /** How long leadership lasts without renewal, and how often the leader renews it. */
  readonly lease?: { readonly ttlMs: number; readonly renewIntervalMs: number };
  readonly onPublished?: (events: readonly EventEnvelope[]) => void;
}

/** Builds a relay with its lease and checkpoint store. */
export function createOutboxRelay(wiring: OutboxRelayWiring): OutboxRelay {
  const name = wiring.name ?? 'events';
  return new OutboxRelay(
    {
      store: wiring.store,
      checkpoints: new RelayCheckpointStore(wiring.db, name),
      lock: new RelayLease({
        databaseUrl: wiring.databaseUrl,
        schema: wiring.schema,
        relayName: name,
        logger: wiring.logger,
        ttlMs: wiring.lease?.ttlMs ?? DEFAULT_LEASE_TTL_MS,
        renewIntervalMs: wiring.lease?.renewIntervalMs ?? DEFAULT_LEASE_RENEW_INTERVAL_MS,
      }),
      js: wiring.js,
      jsm: wiring.jsm,
      nc: wiring.nc,
      topology: wiring.topology,
      schema: wiring.schema,
      logger: wiring.logger,
      auth: wiring.auth,
      ...(wiring.onPublished ? { onPublished: wiring.onPublished } : {}),
    },
    { ...DEFAULT_RELAY_SETTINGS, ...wiring.settings },
  );
}
