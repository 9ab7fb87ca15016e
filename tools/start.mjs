// `npm start`: installs what is missing, builds, finds or starts Postgres and NATS
// JetStream, migrates the schema and runs every Keyledger service until Ctrl-C.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDependencies } from './ensure-deps.mjs';
import { runToExit, terminateChild } from './run-process.mjs';
import { SERVICES } from './services.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (message) => process.stdout.write(`[keyledger] ${message}\n`);

await ensureDependencies(root);
const { build } = await import('./build.mjs');
log(`built ${await build()} files`);
const { ensureStack } = await import('./local-stack.mjs');
const stack = await ensureStack({ root, dataDir: join(root, '.keyledger'), probeDefaults: false, natsOnDefaultPort: true, natsAuth: true, log });

const portBase = Number(process.env.KEYLEDGER_HTTP_PORT_BASE ?? 3000);
const eventKeys = await localSecret('KEYLEDGER_EVENT_KEYS', 'event-keys', 'an event key');
const deliverySigningKeys = await localSecret('KEYLEDGER_DELIVERY_SIGNING_KEYS', 'delivery-signing-keys', 'a delivery signing key');
await writeDeliveryPublicKeys(deliverySigningKeys.value);
const auditSigningKey = await localSecret('KEYLEDGER_AUDIT_SIGNING_KEY', 'audit-signing-key', 'a checkpoint signing key', newAuditSigningKey);
await writeAuditPublicKey(auditSigningKey.value);
const env = {
  ...process.env,
  DATABASE_URL: stack.databaseUrl,
  NATS_URL: stack.natsUrl,
  KEYLEDGER_HASH_PEPPERS: (await localSecret('KEYLEDGER_HASH_PEPPERS', 'pepper', 'a hash pepper')).value,
  KEYLEDGER_EVENT_KEYS: eventKeys.value,
  KEYLEDGER_DELIVERY_SIGNING_KEYS: deliverySigningKeys.value,
  KEYLEDGER_AUDIT_SIGNING_KEY: auditSigningKey.value,
  // NATS reserves each stream's max_bytes on its disk up front: the production defaults (14.25
  // GiB in all) would not fit a laptop's free space, so a local installation reserves 1.75 GiB.
  KEYLEDGER_EVENT_STREAM_MAX_BYTES: process.env.KEYLEDGER_EVENT_STREAM_MAX_BYTES ?? String(1024 ** 3),
  KEYLEDGER_USAGE_STREAM_MAX_BYTES: process.env.KEYLEDGER_USAGE_STREAM_MAX_BYTES ?? String(512 * 1024 ** 2),
  KEYLEDGER_DELIVERY_STREAM_MAX_BYTES: process.env.KEYLEDGER_DELIVERY_STREAM_MAX_BYTES ?? String(128 * 1024 ** 2),
  KEYLEDGER_DLQ_STREAM_MAX_BYTES: process.env.KEYLEDGER_DLQ_STREAM_MAX_BYTES ?? String(128 * 1024 ** 2),
  KEYLEDGER_NOTIFICATION_STREAM_MAX_BYTES: process.env.KEYLEDGER_NOTIFICATION_STREAM_MAX_BYTES ?? String(64 * 1024 ** 2),
};

/**
 * A versioned secret of a local installation (`<version>:<base64>`): the variable when set,
 * otherwise one generated on the first start and kept in .keyledger/<file> (mode 0600). Losing
 * the pepper makes every key issued with it unverifiable, losing the event key every event
 * stored with it unreadable, so neither is ever regenerated.
 */
async function localSecret(variable, fileName, what, generate = () => `1:${randomBytes(32).toString('base64')}`) {
  if (process.env[variable]) return { value: process.env[variable], generated: false };
  const file = join(root, '.keyledger', fileName);
  try {
    return { value: (await readFile(file, 'utf8')).trim(), generated: false };
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
    const value = await generate();
    await writeFile(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
    log(`generated ${what} in .keyledger/${fileName}; keep it with the database`);
    return { value, generated: true };
  }
}
/**
 * The public half of the delivery signing keys, in .keyledger/delivery-public-keys: what a client
 * (LiveKey's deliveryPublicKeys) or a webhook receiver checks deliveries with. Not a secret, and
 * derived again at every start, so it follows the signing keys.
 */
async function writeDeliveryPublicKeys(signingKeys) {
  const { parseDeliverySigningKeys } = await import(pathToFileURL(join(root, 'dist/libs/key-secrets/src/index.js')).href);
  const { DeliverySigner } = await import(pathToFileURL(join(root, 'dist/libs/key-delivery/src/index.js')).href);
  const publicKeys = new DeliverySigner(parseDeliverySigningKeys(signingKeys)).publicKeys();
  await writeFile(join(root, '.keyledger', 'delivery-public-keys'), `${publicKeys}\n`, { mode: 0o644 });
  log(`delivery public keys (for clients checking key deliveries): .keyledger/delivery-public-keys`);
}
/**
 * A note signing key for the auditor's checkpoints, named after this installation: its key name
 * is the checkpoints' origin line, which should differ between logs.
 */
async function newAuditSigningKey() {
  const { NoteSigner } = await import(pathToFileURL(join(root, 'dist/libs/transparency-log/src/index.js')).href);
  return NoteSigner.generate(`keyledger.local/audit-${randomBytes(4).toString('hex')}`).privateKey;
}

/** The note verifier key of the checkpoints, in .keyledger/audit-public-key: public, derived again at every start. */
async function writeAuditPublicKey(signingKey) {
  const { NoteSigner } = await import(pathToFileURL(join(root, 'dist/libs/transparency-log/src/index.js')).href);
  await writeFile(join(root, '.keyledger', 'audit-public-key'), `${NoteSigner.fromPrivateKey(signingKey).verifierKey()}\n`, { mode: 0o644 });
  log('checkpoint verifier key (for anyone checking the audit log): .keyledger/audit-public-key');
}
// An installation from before event MACs gets its event key now: its events are sealed once,
// as they stand (docs/operations.md, "Event authentication"). The migration also configures the
// streams, as the one NATS user allowed to when NATS was started here.
const migrated = await runToExit(process.execPath, [join(root, 'dist/services/migrate/main.js'), ...(eventKeys.generated ? ['--seal-unauthenticated-events'] : [])], {
  env: { ...env, ...(stack.natsCreds ? { NATS_CREDS: stack.natsCreds('migrate') } : {}) },
});
if (migrated !== 0) {
  await stack.stop();
  process.exit(migrated);
}

const children = new Map();
let stopping = false;

function prefixLines(name, stream, target) {
  let pending = '';
  stream.on('data', (chunk) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) target.write(`[${name}] ${line}\n`);
  });
}

// Per-service V8 settings, as in deploy/kustomize: the verifier's larger young generation
// collects a quarter as often under load, which keeps its tail latency down.
const NODE_FLAGS = { verifier: ['--max-semi-space-size=64'] };

for (const service of SERVICES) {
  const port = portBase + (service.port - 3000);
  const child = spawn(process.execPath, ['--enable-source-maps', ...(NODE_FLAGS[service.name] ?? []), join(root, `dist/services/${service.name}/main.js`)], {
    // A NATS started here has a user per service; an external one is used with the NATS_CREDS the user set, if any.
    env: {
      ...env,
      ...(stack.natsCreds ? { NATS_CREDS: stack.natsCreds(service.name) } : {}),
      HTTP_PORT: String(port),
      HTTP_HOST: process.env.HTTP_HOST ?? '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  prefixLines(service.name, child.stdout, process.stdout);
  prefixLines(service.name, child.stderr, process.stderr);
  children.set(service.name, { child, port });
  child.on('exit', (code, signal) => {
    if (stopping) return;
    log(`${service.name} exited (${signal ?? code}); stopping the others`);
    void shutdown(1);
  });
}

async function shutdown(exitCode) {
  if (stopping) return;
  stopping = true;
  log('stopping services');
  await Promise.all([...children.values()].map(({ child }) => terminateChild(child, 'SIGTERM', 15_000)));
  await stack.stop();
  process.exit(exitCode);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

async function waitReady(name, port) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !stopping) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
      if (response.ok) return true;
    } catch {
      // Not listening yet, or restarting: keep polling until the deadline.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  log(`${name} is not ready after 60 s`);
  return false;
}

const ready = await Promise.all([...children].map(([name, { port }]) => waitReady(name, port)));
if (ready.every(Boolean)) {
  log(`postgres: ${stack.postgres}, nats: ${stack.nats} (${stack.natsUrl})`);
  for (const [name, { port }] of children) log(`${name.padEnd(17)} http://127.0.0.1:${port}/health/ready`);
  // The CLI looks for NATS on 127.0.0.1:4222 unless told otherwise.
  if (stack.natsUrl !== 'nats://127.0.0.1:4222') log(`for the keyledger CLI: export NATS_URL=${stack.natsUrl}`);
  if (stack.natsCreds) log('NATS requires a user: each service and the migration have their own, the keyledger CLI uses .keyledger/nats-auth/cli.creds');
  else if (!process.env.NATS_CREDS)
    log('warning: NATS_CREDS is not set, so the services connect to this NATS unauthenticated (docs/configuration.md#nats-authentication)');
  log('all services ready; Ctrl-C stops them');
}
