// One-shot job: brings the Keyledger schema up to date, connected as the schema owner
// (DATABASE_MIGRATION_URL, or DATABASE_URL when it is an owner), and gives each service's role
// its grants (libs/migrations, DATABASE_GRANTS). Given each service's DATABASE_URL
// (DATABASE_URL_ISSUER, …), it makes each service's login a member of that service's role only
// (docs/operations.md, "A login per service"). Then it creates the JetStream streams or brings
// their settings up to date, as the one NATS user allowed to (`migrate`, libs/nats-auth).
// Services never migrate, and on an authenticated NATS they only check the streams.
//
// With --seal-unauthenticated-events (and KEYLEDGER_EVENT_KEYS), it then gives every event
// stored before events carried MACs the MAC of its current contents, once the hash chains
// verify (docs/operations.md, "Event authentication").
import { jetstreamManager } from '@nats-io/jetstream';
import { ConfigError, LEGACY_APP_ROLE, loadMigrateConfig, serviceDatabaseLogins } from '@keyledger/config';
import { EventAuthenticator } from '@keyledger/event-auth';
import {
  NatsMessageLimitTooSmall,
  assertMessageLimit,
  busTopology,
  connectNats,
  ensureEventStreams,
  eventStreamSettings,
  natsConnectionSettings,
} from '@keyledger/event-bus';
import { UnsealableStoreError, createDataSource, sealUnauthenticatedEvents, storePosition } from '@keyledger/event-store';
import { migrateKeyledger } from '@keyledger/migrations';

const SEAL_FLAG = '--seal-unauthenticated-events';
/** Sealing refused because a hash chain does not verify (docs/operations.md#event-authentication); 1 is any other failure. */
const UNSEALABLE_STORE_EXIT_CODE = 3;

try {
  const unknown = process.argv.slice(2).filter((argument) => argument !== SEAL_FLAG);
  if (unknown.length > 0) throw new ConfigError([`unknown argument(s) ${unknown.join(' ')}; the only option is ${SEAL_FLAG}`]);
  const seal = process.argv.includes(SEAL_FLAG);
  const config = loadMigrateConfig({ ...process.env, DATABASE_URL: process.env['DATABASE_MIGRATION_URL'] ?? process.env['DATABASE_URL'] });
  if (seal && !config.KEYLEDGER_EVENT_KEYS) throw new ConfigError([`KEYLEDGER_EVENT_KEYS: is required with ${SEAL_FLAG}`]);
  const serviceLogins = serviceDatabaseLogins(config);
  const owner = seal
    ? createDataSource({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, poolSize: 1, applicationName: 'keyledger-migrate' })
    : undefined;
  try {
    // What sealing may vouch for: the rows stored when the command started, before anything else runs.
    const started = owner ? await owner.initialize().then(() => storePosition(owner)) : undefined;
    const applied = await migrateKeyledger({
      url: config.DATABASE_URL,
      schema: config.DATABASE_SCHEMA,
      appRole: config.DATABASE_APP_ROLE || LEGACY_APP_ROLE,
      serviceLogins,
    });
    process.stdout.write(
      applied.length === 0 ? `schema ${config.DATABASE_SCHEMA} is up to date\n` : `applied to ${config.DATABASE_SCHEMA}: ${applied.join(', ')}\n`,
    );
    if (serviceLogins) process.stdout.write(`service logins: ${serviceLogins.map((login) => `${login.login} (${login.role})`).join(', ')}\n`);
    if (owner && started !== undefined && config.KEYLEDGER_EVENT_KEYS) {
      const { sealed, through } = await sealUnauthenticatedEvents(owner, new EventAuthenticator(config.KEYLEDGER_EVENT_KEYS), { through: started });
      process.stdout.write(
        `sealed ${sealed} event(s) without a MAC at or below position ${through} (the store when this command started) in ${config.DATABASE_SCHEMA}\n`,
      );
    }
  } finally {
    await owner?.destroy();
  }
  const nc = await connectNats(natsConnectionSettings(config, 'keyledger-migrate'));
  try {
    assertMessageLimit(nc);
    const topology = busTopology(config.KEYLEDGER_SUBJECT_PREFIX, config.KEYLEDGER_EVENT_STREAM, config.KEYLEDGER_USAGE_STREAM);
    const outcomes = await ensureEventStreams(await jetstreamManager(nc), topology, eventStreamSettings(config), { configure: true });
    process.stdout.write(`streams: ${outcomes.map(({ stream, outcome }) => `${stream} ${outcome}`).join(', ')}\n`);
  } finally {
    await nc.close();
  }
} catch (error) {
  if (error instanceof UnsealableStoreError) {
    // The operator's to investigate, not a bug: one line, and an exit code of its own.
    process.stderr.write(
      `migrate: ${error.message}; nothing was sealed. Find the rows with verifyEventChains (docs/operations.md#event-authentication), restore them from a backup, then run it again\n`,
    );
    process.exitCode = UNSEALABLE_STORE_EXIT_CODE;
  } else {
    process.stderr.write(
      `migrate: ${error instanceof ConfigError || error instanceof NatsMessageLimitTooSmall ? error.message : error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exitCode = 1;
  }
}
