// `npm start`: installs what is missing, builds, finds or starts Postgres and NATS
// JetStream, migrates the schema and runs every Keyledger service, each with its own database
// login, until Ctrl-C.
//
// The services and the servers started here each run in their own session, so a Ctrl-C (or a
// SIGTERM or SIGHUP) reaches only this process, which stops the services first, waits for them
// to drain into Postgres and NATS, and stops the servers last. A second Ctrl-C kills the
// services; the servers still stop cleanly. When this process was killed outright, the next
// start stops the services it left (they drain first) and takes over its servers.
//
// `npm start -- --no-build` runs the dist/ already built. KEYLEDGER_HOME (default .keyledger of
// the checkout) holds the servers' data, the local secrets and NATS users, and nats-url.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDependencies } from './ensure-deps.mjs';
import { ignoreError, shortPath } from './local-stack/helpers.mjs';
import { commandLineOf, isProcessAlive, liveStackOwner, terminatePid } from './local-stack/owned-processes.mjs';
import { runToExit, terminateChild } from './run-process.mjs';
import { SERVICES } from './services.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (message) => process.stdout.write(`[keyledger] ${message}\n`);
// Once the terminal is closed (SIGHUP) writing to it fails; the shutdown must go on regardless.
for (const stream of [process.stdout, process.stderr]) stream.on('error', ignoreError);

const options = process.argv.slice(2);
const unknown = options.filter((option) => option !== '--no-build');
if (unknown.length > 0) {
  process.stderr.write(`npm start: unknown option ${unknown.join(' ')} (the only one is --no-build)\n`);
  process.exit(2);
}
const dataDir = process.env.KEYLEDGER_HOME ? resolve(process.env.KEYLEDGER_HOME) : join(root, '.keyledger');
await mkdir(dataDir, { recursive: true });
const SERVICE_STOP_GRACE_MS = 15_000;
/** The services' pids, so that a start after this process was killed can stop them. */
const servicesFile = join(dataDir, 'services.json');

const owner = liveStackOwner(dataDir);
if (owner !== undefined) {
  process.stderr.write(`npm start: process ${owner} already runs the servers of ${shortPath(root, dataDir)} (another npm start?); stop it first\n`);
  process.exit(1);
}
await stopLeftoverServices();

/** Services an earlier npm start left running when it was killed: stopped as a Ctrl-C would, before their servers are touched. */
async function stopLeftoverServices() {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(servicesFile, 'utf8')).services;
  } catch (error) {
    if (error.code === 'ENOENT') return;
    throw error;
  }
  // Only a process still running this checkout's service, not one that was given the same pid since.
  const left = recorded.filter(({ name, pid }) => isProcessAlive(pid) && commandLineOf(pid).includes(join(root, `dist/services/${name}/main.js`)));
  if (left.length > 0) {
    log(`stopping ${left.map(({ name, pid }) => `${name} (pid ${pid})`).join(', ')}, left running by an npm start that was killed`);
    await Promise.all(left.map(({ pid }) => terminatePid(pid, SERVICE_STOP_GRACE_MS)));
  }
  await rm(servicesFile, { force: true });
}

await ensureDependencies(root);
if (options.includes('--no-build')) log('not building (--no-build): running dist/ as it is');
else {
  const { build } = await import('./build.mjs');
  log(`built ${await build()} files`);
}
const { ensureStack } = await import('./local-stack.mjs');
const stack = await ensureStack({ root, dataDir, probeDefaults: false, natsOnDefaultPort: true, natsAuth: true, log });

const portBase = Number(process.env.KEYLEDGER_HTTP_PORT_BASE ?? 3000);
const eventKeys = await localSecret('KEYLEDGER_EVENT_KEYS', 'event-keys', 'an event key');
const deliverySigningKeys = await localSecret('KEYLEDGER_DELIVERY_SIGNING_KEYS', 'delivery-signing-keys', 'a delivery signing key');
await writeDeliveryPublicKeys(deliverySigningKeys.value);
const serviceDatabaseUrls = await localServiceLogins(stack.databaseUrl, process.env.DATABASE_SCHEMA || 'keyledger');
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
  const file = join(dataDir, fileName);
  try {
    return { value: (await readFile(file, 'utf8')).trim(), generated: false };
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
    const value = await generate();
    await writeFile(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
    log(`generated ${what} in ${shortPath(root, file)}; keep it with the database`);
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
  await writeFile(join(dataDir, 'delivery-public-keys'), `${publicKeys}\n`, { mode: 0o644 });
  log(`delivery public keys (for clients checking key deliveries): ${shortPath(root, join(dataDir, 'delivery-public-keys'))}`);
}

/**
 * Each service's own database login, `<schema>_<service>_login` (two installations with their
 * own schemas on one server keep theirs apart), with a password generated on the first start and
 * kept in .keyledger/database-logins.json (mode 0600): the URL each service connects with,
 * by service. The migrate job creates the logins from these URLs (DATABASE_URL_<SERVICE>) and
 * makes each a member of its service's role only, so a service cannot act as another.
 */
async function localServiceLogins(ownerUrl, schema) {
  const file = join(dataDir, 'database-logins.json');
  let passwords = {};
  try {
    passwords = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  const missing = SERVICES.filter(({ name }) => typeof passwords[name] !== 'string');
  if (missing.length > 0) {
    for (const { name } of missing) passwords[name] = randomBytes(24).toString('hex');
    await writeFile(file, `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  return Object.fromEntries(
    SERVICES.map(({ name }) => {
      const url = new URL(ownerUrl);
      url.username = `${schema}_${name.replace(/-/g, '_')}_login`;
      url.password = passwords[name];
      return [name, url.toString()];
    }),
  );
}

const serviceUrlVariable = (name) => `DATABASE_URL_${name.toUpperCase().replace(/-/g, '_')}`;

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
  await writeFile(join(dataDir, 'audit-public-key'), `${NoteSigner.fromPrivateKey(signingKey).verifierKey()}\n`, { mode: 0o644 });
  log(`checkpoint verifier key (for anyone checking the audit log): ${shortPath(root, join(dataDir, 'audit-public-key'))}`);
}
// An installation from before event MACs gets its event key now: its events are sealed once,
// as they stand (docs/operations.md, "Event authentication"). The migration runs as the owner
// (DATABASE_URL), makes each service's login from its URL, and configures the streams, as the
// one NATS user allowed to when NATS was started here.
const migrated = await runToExit(process.execPath, [join(root, 'dist/services/migrate/main.js'), ...(eventKeys.generated ? ['--seal-unauthenticated-events'] : [])], {
  env: {
    ...env,
    ...(stack.natsCreds ? { NATS_CREDS: stack.natsCreds('migrate') } : {}),
    ...Object.fromEntries(Object.entries(serviceDatabaseUrls).map(([name, url]) => [serviceUrlVariable(name), url])),
  },
});
if (migrated !== 0) {
  await stack.stop();
  process.exit(migrated);
}

const children = new Map();
let stopping = false;
let firstSignalAt = 0;

async function shutdown(exitCode) {
  if (stopping) return;
  stopping = true;
  log('stopping services (Ctrl-C again to kill them)');
  await Promise.all([...children.values()].map(({ child }) => terminateChild(child, 'SIGTERM', SERVICE_STOP_GRACE_MS)));
  log('stopping servers');
  await stack.stop();
  await rm(servicesFile, { force: true });
  process.exit(exitCode);
}

function onSignal() {
  if (!stopping) {
    firstSignalAt = Date.now();
    void shutdown(0);
    return;
  }
  // npm passes the terminal's Ctrl-C on to this process, which got it from the terminal too:
  // a signal within a second of the first is that same Ctrl-C, not a second one.
  if (Date.now() - firstSignalAt < 1_000) return;
  log('killing the services; the servers still stop cleanly');
  for (const { child } of children.values()) child.kill('SIGKILL');
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);
// If this process ends any other way (a crash), the services are asked to stop; the servers' own backstop follows.
process.on('exit', () => {
  for (const { child } of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
});

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
      DATABASE_URL: serviceDatabaseUrls[service.name],
      ...(stack.natsCreds ? { NATS_CREDS: stack.natsCreds(service.name) } : {}),
      HTTP_PORT: String(port),
      HTTP_HOST: process.env.HTTP_HOST ?? '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own session: a Ctrl-C reaches this process only, which stops the services in order.
    detached: true,
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

await writeFile(servicesFile, `${JSON.stringify({ services: [...children].map(([name, { child }]) => ({ name, pid: child.pid })) })}\n`);

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
  // The CLI finds the address of a NATS started here in <dataDir>/nats-url; an external one is the user's NATS_URL.
  if (stack.nats === 'local') log(`the keyledger CLI finds this NATS's address in ${shortPath(root, join(dataDir, 'nats-url'))}`);
  if (stack.natsCreds) log(`NATS requires a user: each service and the migration have their own, the keyledger CLI uses ${shortPath(root, join(dataDir, 'nats-auth', 'cli.creds'))}`);
  else if (!process.env.NATS_CREDS)
    log('warning: NATS_CREDS is not set, so the services connect to this NATS unauthenticated (docs/configuration.md#nats-authentication)');
  log('all services ready; Ctrl-C stops them');
}
