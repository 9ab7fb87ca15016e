import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import type { BusTopology } from '@keyledger/event-bus';
import { busTopology, connectNats, deleteEventStreams, ensureEventStreams } from '@keyledger/event-bus';
import { PostgresEventStore, createDataSource } from '@keyledger/event-store';
import type { EventAuthentication, EventRejection, EventRejectionSink } from '@keyledger/event-auth';
import { EventAuthenticator } from '@keyledger/event-auth';
import { parseVersionedSecrets } from '@keyledger/key-secrets';
import { migrateKeyledger } from '@keyledger/migrations';
import type { Logger } from '@keyledger/observability';
import { createLogger } from '@keyledger/observability';

export const APP_ROLE = 'keyledger_app';

/** A rejection sink that keeps what it is told, for tests to look at (services count, log and alert: EventRejections). */
export class RecordedRejections implements EventRejectionSink {
  readonly all: EventRejection[] = [];

  reject(rejection: EventRejection): void {
    this.all.push(rejection);
  }
}

/**
 * An isolated slice of the shared Postgres and NATS servers for one test file: its own
 * schema, its own subject prefix and its own streams, removed again by `close()`. Test
 * files can therefore run in parallel and repeatedly against the same servers.
 */
export interface TestContext {
  readonly id: string;
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly schema: string;
  /** Connected as the schema owner: can do what the application role cannot. */
  readonly ownerDb: DataSource;
  /** Connected with the application role, as the services are. */
  readonly appDb: DataSource;
  readonly store: PostgresEventStore;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: BusTopology;
  readonly logger: Logger;
  /** The context's event key (also in `serviceEnv`), and every event refused by `store` or a reader built with it. */
  readonly auth: EventAuthentication & { readonly rejections: RecordedRejections };
  /** Environment for a Keyledger process that should use this context. */
  readonly serviceEnv: Record<string, string>;
  close(): Promise<void>;
}

export function testInfrastructure(): { databaseUrl: string; natsUrl: string } {
  const databaseUrl = process.env['KEYLEDGER_TEST_DATABASE_URL'];
  const natsUrl = process.env['KEYLEDGER_TEST_NATS_URL'];
  if (!databaseUrl || !natsUrl)
    throw new Error('KEYLEDGER_TEST_DATABASE_URL / KEYLEDGER_TEST_NATS_URL are not set: run the tests with `npm test` (jest globalSetup provides them)');
  return { databaseUrl, natsUrl };
}

export async function createTestContext(label: string): Promise<TestContext> {
  const { databaseUrl, natsUrl } = testInfrastructure();
  const id = `${label.replace(/[^a-z0-9]/g, '').slice(0, 12)}_${randomBytes(4).toString('hex')}`;
  const schema = `kl_t_${id}`;
  const topology = busTopology(`kl_t_${id}`, `KL_T_${id.toUpperCase()}`, `KL_T_${id.toUpperCase()}_USAGE`);
  await migrateKeyledger({ url: databaseUrl, schema, appRole: APP_ROLE });
  const ownerDb = createDataSource({ url: databaseUrl, schema, poolSize: 4 });
  const appDb = createDataSource({ url: databaseUrl, schema, role: APP_ROLE, poolSize: 12 });
  await Promise.all([ownerDb.initialize(), appDb.initialize()]);
  const nc = await connectNats({ servers: natsUrl, name: `test-${id}` });
  const jsm = await jetstreamManager(nc);
  await ensureEventStreams(jsm, topology, { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0 });
  const logger = createLogger({ service: `test-${label}`, level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const eventKeys = `1:${randomBytes(32).toString('base64')}`;
  const auth = { authenticator: new EventAuthenticator(parseVersionedSecrets(eventKeys, 'event key')), rejections: new RecordedRejections() };
  const serviceEnv = {
    KEYLEDGER_HASH_PEPPERS: `1:${randomBytes(32).toString('base64')}`,
    KEYLEDGER_EVENT_KEYS: eventKeys,
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    DATABASE_APP_ROLE: APP_ROLE,
    NATS_URL: natsUrl,
    KEYLEDGER_SUBJECT_PREFIX: topology.subjectPrefix,
    KEYLEDGER_EVENT_STREAM: topology.eventStream,
    KEYLEDGER_USAGE_STREAM: topology.usageStream,
  };
  return {
    id,
    databaseUrl,
    natsUrl,
    schema,
    ownerDb,
    appDb,
    store: new PostgresEventStore(appDb, auth),
    nc,
    js: jetstream(nc),
    jsm,
    topology,
    logger,
    auth,
    serviceEnv,
    async close() {
      await deleteEventStreams(jsm, topology);
      await nc.drain();
      await appDb.destroy();
      await ownerDb.query(`drop schema ${schema} cascade`);
      await ownerDb.destroy();
    },
  };
}
