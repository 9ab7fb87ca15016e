import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import type { KeyledgerService, ServiceEnv } from '@keyledger/config';
import { databaseRoleOf } from '@keyledger/config';
import type { BusTopology } from '@keyledger/event-bus';
import {
  EventRejections,
  assertMessageLimit,
  busTopology,
  connectNats,
  ensureEventStreams,
  eventStreamSettings,
  isAuthenticatedBus,
  natsConnectionSettings,
} from '@keyledger/event-bus';
import type { EventAuthentication } from '@keyledger/event-auth';
import { EventAuthenticator } from '@keyledger/event-auth';
import { PostgresEventStore, createDataSource } from '@keyledger/event-store';
import type { Logger, Registry } from '@keyledger/observability';

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
  /**
   * The event key and the process's one place for refused events (counter, log, alert): the
   * store's reads and every bus reader built from it report there.
   */
  readonly auth: EventAuthentication;
  close(): Promise<void>;
}

/** What the connections report to: refused events are logged, counted and alerted as this process. */
export interface InfrastructureReporting {
  readonly instance: string;
  readonly logger: Logger;
  readonly metrics: Registry;
}

export async function openInfrastructure(service: KeyledgerService, config: ServiceEnv, reporting: InfrastructureReporting): Promise<Infrastructure> {
  const db = createDataSource({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    role: databaseRoleOf(config, service),
    poolSize: config.DATABASE_POOL_SIZE,
    applicationName: `keyledger-${service}`,
  });
  await db.initialize();
  const nats = natsConnectionSettings(config, `keyledger-${service}`);
  const bus = isAuthenticatedBus(nats) ? 'authenticated' : 'unauthenticated';
  const nc = await connectNats(nats);
  const jsm = await jetstreamManager(nc);
  const topology = busTopology(config.KEYLEDGER_SUBJECT_PREFIX, config.KEYLEDGER_EVENT_STREAM, config.KEYLEDGER_USAGE_STREAM);
  try {
    // Before anything is published: a server that refuses Keyledger's largest messages says so at start.
    assertMessageLimit(nc);
    // The streams are the migrate job's to configure: a service's NATS user may only read them, so
    // a service stops at start when one is missing or not as its settings say (EventStreamNotReady).
    // On a NATS without users anyone may configure them, and whichever service starts first does.
    await ensureEventStreams(jsm, topology, eventStreamSettings(config), { configure: bus === 'unauthenticated' });
  } catch (error) {
    await nc.close();
    await db.destroy();
    throw error;
  }
  const authenticator = new EventAuthenticator(config.KEYLEDGER_EVENT_KEYS);
  const rejections = new EventRejections({
    nc,
    subjectPrefix: topology.subjectPrefix,
    logger: reporting.logger,
    registry: reporting.metrics,
    service: reporting.instance,
    authenticator,
  });
  const auth: EventAuthentication = { authenticator, rejections };
  return {
    db,
    store: new PostgresEventStore(db, auth),
    nc,
    js: jetstream(nc),
    jsm,
    topology,
    bus,
    auth,
    async close() {
      rejections.close();
      // Drain delivers what is in flight and flushes pending publishes before closing.
      await nc.drain();
      await db.destroy();
    },
  };
}
