import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import type { KeyledgerService, ServiceEnv } from '@keyledger/config';
import { databaseRoleOf } from '@keyledger/config';
import type { BusTopology } from '@keyledger/event-bus';
import { busTopology, connectNats, ensureEventStreams, isAuthenticatedBus, natsConnectionSettings } from '@keyledger/event-bus';
import { PostgresEventStore, createDataSource } from '@keyledger/event-store';

/** The connections a Keyledger service holds: Postgres (as its role, `databaseRoleOf`) and NATS. */
export interface Infrastructure {
  readonly db: DataSource;
  readonly store: PostgresEventStore;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: BusTopology;
  /** Whether this service presents a NATS user (`NATS_CREDS`); `unauthenticated` is shown in health and `keyledger status`. */
  readonly bus: 'authenticated' | 'unauthenticated';
  close(): Promise<void>;
}

export async function openInfrastructure(service: KeyledgerService, config: ServiceEnv): Promise<Infrastructure> {
  const db = createDataSource({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    role: databaseRoleOf(config, service),
    poolSize: config.DATABASE_POOL_SIZE,
    applicationName: `keyledger-${service}`,
  });
  await db.initialize();
  const nats = natsConnectionSettings(config, `keyledger-${service}`);
  const nc = await connectNats(nats);
  const jsm = await jetstreamManager(nc);
  const topology = busTopology(config.KEYLEDGER_SUBJECT_PREFIX, config.KEYLEDGER_EVENT_STREAM, config.KEYLEDGER_USAGE_STREAM);
  // Every service may be the first to start, and all of them read or write these streams.
  await ensureEventStreams(jsm, topology, {
    duplicateWindowMs: config.KEYLEDGER_DUPLICATE_WINDOW_MS,
    replicas: config.KEYLEDGER_STREAM_REPLICAS,
    maxAgeMs: 0,
    usageMaxAgeMs: config.KEYLEDGER_USAGE_STREAM_MAX_AGE_MS,
    deliveryMaxAgeMs: config.KEYLEDGER_DELIVERY_STREAM_MAX_AGE_MS,
    maxBytes: {
      events: config.KEYLEDGER_EVENT_STREAM_MAX_BYTES,
      deadLetters: config.KEYLEDGER_DLQ_STREAM_MAX_BYTES,
      usage: config.KEYLEDGER_USAGE_STREAM_MAX_BYTES,
      delivery: config.KEYLEDGER_DELIVERY_STREAM_MAX_BYTES,
      notifications: config.KEYLEDGER_NOTIFICATION_STREAM_MAX_BYTES,
    },
  });
  return {
    db,
    store: new PostgresEventStore(db),
    nc,
    js: jetstream(nc),
    jsm,
    topology,
    bus: isAuthenticatedBus(nats) ? 'authenticated' : 'unauthenticated',
    async close() {
      // Drain delivers what is in flight and flushes pending publishes before closing.
      await nc.drain();
      await db.destroy();
    },
  };
}
