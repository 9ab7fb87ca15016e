import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import type { BusTopology, EventStreamSettings } from '@keyledger/event-bus';
import { busTopology, connectNats, deleteEventStreams, ensureEventStreams } from '@keyledger/event-bus';
import type { KeyledgerService } from '@keyledger/config';
import { LEGACY_APP_ROLE, SERVICE_DATABASE_ROLES } from '@keyledger/config';
import { PostgresEventStore, createDataSource } from '@keyledger/event-store';
import type { EventAuthentication, EventRejection, EventRejectionSink } from '@keyledger/event-auth';
import { EventAuthenticator } from '@keyledger/event-auth';
import { DeliverySigner } from '@keyledger/key-delivery';
import { parseDeliverySigningKeys, parseVersionedSecrets } from '@keyledger/key-secrets';
import { migrateKeyledger } from '@keyledger/migrations';
import type { Logger } from '@keyledger/observability';
import { createLogger } from '@keyledger/observability';
import { credsUserName } from '@keyledger/nats-auth';
import { NoteSigner } from '@keyledger/transparency-log';

/** The role every service assumed before each had its own: a member of every service role. */
export const APP_ROLE = LEGACY_APP_ROLE;

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
  /** Connected with the role of before per-service roles, which holds what every service may do. */
  readonly appDb: DataSource;
  /** A connection as one service's own role, as that service runs; closed by `close()`. */
  connectAs(service: KeyledgerService): Promise<DataSource>;
  readonly store: PostgresEventStore;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: BusTopology;
  readonly logger: Logger;
  /** The context's event key (also in `serviceEnv`), and every event refused by `store` or a reader built with it. */
  readonly auth: EventAuthentication & { readonly rejections: RecordedRejections };
  /** Signs deliveries with the context's delivery signing key (also in `serviceEnv`), as the issuer and the rotator do. */
  readonly deliverySigner: DeliverySigner;
  /** What clients check the context's deliveries with (`<version>:<base64>`). */
  readonly deliveryPublicKeys: string;
  /** The note verifier key of the auditor's checkpoints (its signing key is in `serviceEnv`). */
  readonly auditVerifierKey: string;
  /** Environment for a Keyledger process that should use this context. */
  readonly serviceEnv: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Streams of a test context: NATS reserves each stream's max_bytes on its store, and many test
 * files share one server at once, so theirs are far smaller than an installation's.
 */
export const TEST_STREAM_MAX_BYTES = {
  events: 256 * 1024 ** 2,
  deadLetters: 64 * 1024 ** 2,
  usage: 256 * 1024 ** 2,
  delivery: 64 * 1024 ** 2,
  notifications: 64 * 1024 ** 2,
} as const;

/**
 * The settings a test context creates its streams with, and gives its services (`serviceEnv`):
 * a service on an authenticated NATS only checks the streams and stops if they differ.
 */
export const TEST_STREAM_SETTINGS: EventStreamSettings = { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0, maxBytes: TEST_STREAM_MAX_BYTES };

export function testInfrastructure(): { databaseUrl: string; natsUrl: string } {
  const databaseUrl = process.env['KEYLEDGER_TEST_DATABASE_URL'];
  const natsUrl = process.env['KEYLEDGER_TEST_NATS_URL'];
  if (!databaseUrl || !natsUrl)
    throw new Error('KEYLEDGER_TEST_DATABASE_URL / KEYLEDGER_TEST_NATS_URL are not set: run the tests with `npm test` (jest globalSetup provides them)');
  return { databaseUrl, natsUrl };
}

export interface TestContextOptions {
  /**
   * A NATS server of the test's own instead of the shared one, started for the context's names:
   * its URL and the `.creds` the context connects with (to create and remove the streams).
   */
  readonly nats?: (topology: BusTopology) => Promise<{
    readonly url: string;
    readonly creds: string;
    readonly tls?: { readonly caFile: string; readonly certFile: string; readonly keyFile: string } | undefined;
  }>;
  /**
   * A PostgreSQL server of the test's own instead of the shared one (a test that crashes or
   * restarts it): the URL of a login that may create schemas and roles.
   */
  readonly databaseUrl?: string;
}

export async function createTestContext(label: string, options: TestContextOptions = {}): Promise<TestContext> {
  const shared = testInfrastructure();
  const databaseUrl = options.databaseUrl ?? shared.databaseUrl;
  const id = `${label.replace(/[^a-z0-9]/g, '').slice(0, 12)}_${randomBytes(4).toString('hex')}`;
  const schema = `kl_t_${id}`;
  const topology = busTopology(`kl_t_${id}`, `KL_T_${id.toUpperCase()}`, `KL_T_${id.toUpperCase()}_USAGE`);
  const own = await options.nats?.(topology);
  await migrateKeyledger({ url: databaseUrl, schema, appRole: APP_ROLE });
  const ownerDb = createDataSource({ url: databaseUrl, schema, poolSize: 4 });
  const appDb = createDataSource({ url: databaseUrl, schema, role: APP_ROLE, poolSize: 12 });
  await Promise.all([ownerDb.initialize(), appDb.initialize()]);
  const natsUrl = own?.url ?? shared.natsUrl;
  const nc = await connectNats({
    servers: natsUrl,
    name: `test-${id}`,
    creds: own && { text: own.creds, userName: credsUserName(own.creds) ?? 'operator' },
    tls: own?.tls,
  });
  const jsm = await jetstreamManager(nc);
  await ensureEventStreams(jsm, topology, TEST_STREAM_SETTINGS);
  const serviceDbs: DataSource[] = [];
  const logger = createLogger({ service: `test-${label}`, level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const eventKeys = `1:${randomBytes(32).toString('base64')}`;
  const deliverySigningKeys = `1:${randomBytes(32).toString('base64')}`;
  const deliverySigner = new DeliverySigner(parseDeliverySigningKeys(deliverySigningKeys));
  const auth = { authenticator: new EventAuthenticator(parseVersionedSecrets(eventKeys, 'event key')), rejections: new RecordedRejections() };
  const auditKey = NoteSigner.generate(`keyledger.test/${id}`);
  const serviceEnv = {
    KEYLEDGER_HASH_PEPPERS: `1:${randomBytes(32).toString('base64')}`,
    KEYLEDGER_EVENT_KEYS: eventKeys,
    KEYLEDGER_DELIVERY_SIGNING_KEYS: deliverySigningKeys,
    KEYLEDGER_AUDIT_SIGNING_KEY: auditKey.privateKey,
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    NATS_URL: natsUrl,
    KEYLEDGER_SUBJECT_PREFIX: topology.subjectPrefix,
    KEYLEDGER_EVENT_STREAM: topology.eventStream,
    KEYLEDGER_USAGE_STREAM: topology.usageStream,
    KEYLEDGER_DUPLICATE_WINDOW_MS: String(TEST_STREAM_SETTINGS.duplicateWindowMs),
    KEYLEDGER_EVENT_STREAM_MAX_BYTES: String(TEST_STREAM_MAX_BYTES.events),
    KEYLEDGER_DLQ_STREAM_MAX_BYTES: String(TEST_STREAM_MAX_BYTES.deadLetters),
    KEYLEDGER_USAGE_STREAM_MAX_BYTES: String(TEST_STREAM_MAX_BYTES.usage),
    KEYLEDGER_DELIVERY_STREAM_MAX_BYTES: String(TEST_STREAM_MAX_BYTES.delivery),
    KEYLEDGER_NOTIFICATION_STREAM_MAX_BYTES: String(TEST_STREAM_MAX_BYTES.notifications),
    // The tests call /v1/authorize from this machine as a gateway would, with the caller's
    // address and cost in headers; a test of an untrusted peer sets it to ''.
    VERIFIER_TRUSTED_PROXIES: '127.0.0.1,::1',
    // Tests poll for keys not yet known, from this one address, as fast as they can; the tests of
    // the throttle set their own limit.
    VERIFIER_FAILED_VERIFY_LIMIT: '1000000',
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
    deliverySigner,
    deliveryPublicKeys: deliverySigner.publicKeys(),
    auditVerifierKey: auditKey.verifierKey,
    serviceEnv,
    async connectAs(service) {
      const db = createDataSource({ url: databaseUrl, schema, role: SERVICE_DATABASE_ROLES[service], poolSize: 4 });
      serviceDbs.push(db);
      return db.initialize();
    },
    async close() {
      await Promise.all(serviceDbs.map((db) => db.destroy()));
      await deleteEventStreams(jsm, topology);
      await nc.drain();
      await appDb.destroy();
      await dropSchema(ownerDb, schema);
      await ownerDb.destroy();
    },
  };
}

/**
 * Drops a test's schema. A service the test stopped without waiting may still hold a transaction
 * in it (shutting down, or stuck on the drop itself), and the drop would wait on it for good;
 * worse, a transaction left open holds back every store reader on the server (they read below
 * the oldest running transaction). So the drop waits a few seconds, then ends the sessions that
 * hold locks in the schema, as the stopped process would have, and tries again.
 */
async function dropSchema(ownerDb: DataSource, schema: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await ownerDb.transaction(async (tx) => {
        await tx.query(`set local lock_timeout = '5s'`);
        await tx.query(`drop schema ${schema} cascade`);
      });
      return;
    } catch (error) {
      // A lock timeout, or a deadlock with a stopping service's transaction (the drop takes its
      // locks table by table, in an order of its own): either way, end the holders and try again.
      const code = (error as { driverError?: { code?: string } }).driverError?.code;
      if ((code !== '55P03' && code !== '40P01') || attempt >= 4) throw error;
      await ownerDb.query(
        `select pg_terminate_backend(held.pid) from (
           select distinct l.pid from pg_locks l join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = $1 and l.pid <> pg_backend_pid()) held`,
        [schema],
      );
    }
  }
}
