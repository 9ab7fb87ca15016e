// Runs a nats-server with JetStream for KeyLedger when none was found, in its own session (a
// Ctrl-C meant for `npm start` must not stop it before the services have drained into it): its
// store in <dataDir>/nats, its output in <dataDir>/nats-server.log, and its pid, port and name in
// <dataDir>/nats-server.json so that a server left running by an earlier, killed run is reused
// (or stopped) rather than started twice on one store. The port is KEYLEDGER_LOCAL_NATS_PORT
// when set, else the port of the previous start when free, else 4222 when asked for and free,
// else a free one; the address is kept in <dataDir>/nats-url, where the keyledger CLI finds it.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorText, logTail, shortPath } from './helpers.mjs';
import { DEFAULT_NATS_URL, parseNatsUrl, probeNats } from './nats-probe.mjs';
import { findOrInstallNatsServer } from './nats-server-install.mjs';
import { commandLineOf, isProcessAlive, notOwned, ownChild, ownPid, terminatePid } from './owned-processes.mjs';
import { choosePort } from './ports.mjs';
import { prepareLocalNatsAuth } from './local-nats-auth.mjs';

const NATS_READY_TIMEOUT_MS = 10_000;
const NATS_STOP_GRACE_MS = 5_000;

/** The file that keeps the local server's address between starts; apps/cli/nats-credentials.ts reads it. */
export const NATS_URL_FILE = 'nats-url';

/**
 * @param {{ root: string, dataDir: string, natsOnDefaultPort?: boolean, natsAuth?: boolean, adoptOrphans?: boolean, log: (message: string) => void }} context
 * @returns {Promise<import('./owned-processes.mjs').ServerHandle & { auth?: { dir: string, credsFile: (role: string) => string } }>} mode 'local'
 */
export async function startLocalNats({ root, dataDir, natsOnDefaultPort, natsAuth, adoptOrphans = false, log }) {
  const binary = await findOrInstallNatsServer(log);
  const storeDir = path.join(dataDir, 'nats');
  const statePath = path.join(dataDir, 'nats-server.json');
  const urlPath = path.join(dataDir, NATS_URL_FILE);
  const auth = natsAuth ? await prepareLocalNatsAuth({ root, dataDir, log }) : undefined;
  // A server left from an earlier run is reused only if it runs with the same configuration (with or without auth).
  const adopted = await handlePreviousNats(statePath, storeDir, auth?.configPath, adoptOrphans, log);
  if (adopted) {
    writeFileSync(urlPath, `${adopted.url}\n`);
    return { ...adopted, auth };
  }

  // The port of the previous start first, so that the address the CLI and the user know stays true.
  const preferred = [recordedPort(urlPath), natsOnDefaultPort ? parseNatsUrl(DEFAULT_NATS_URL).port : undefined].filter((port) => port !== undefined);
  const port = await choosePort({ envName: 'KEYLEDGER_LOCAL_NATS_PORT', preferred });
  const logPath = path.join(dataDir, 'nats-server.log');
  await fs.mkdir(storeDir, { recursive: true });
  log(`nats: starting ${binary} with JetStream (store ${shortPath(root, storeDir)}) on port ${port} (log: ${shortPath(root, logPath)})`);

  // A unique name lets the readiness check tell our server from another one already on the port.
  const serverName = `keyledger-${process.pid}-${Date.now().toString(36)}`;
  const args = [...(auth ? ['-c', auth.configPath] : []), '-a', '127.0.0.1', '-p', String(port), '-n', serverName, '-js', '-sd', storeDir];
  // A file, not a pipe: the server's output must not depend on this process reading it.
  const logFd = openSync(logPath, 'a');
  let child;
  try {
    child = spawn(binary, args, { detached: true, stdio: ['ignore', logFd, logFd] });
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
  const url = `nats://127.0.0.1:${port}`;
  await fs.writeFile(urlPath, `${url}\n`);
  return { url, mode: 'local', stop: owned.stop, auth };
}

/** The port in <dataDir>/nats-url, or undefined when there is none (first start) or it is unreadable. */
function recordedPort(urlPath) {
  let text;
  try {
    text = readFileSync(urlPath, 'utf8').trim();
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return parseNatsUrl(text).port;
  } catch {
    // Not an address (edited by hand): a port is chosen as on a first start, and the file rewritten.
    return undefined;
  }
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
 * If the process that started it was killed, a nats-server keeps running on the same store. Two
 * servers on one JetStream store would corrupt it, so a live previous server is reused when
 * healthy (and stopped with this stack when its owner is gone: adoptOrphans) and terminated
 * otherwise.
 */
async function handlePreviousNats(statePath, storeDir, configPath, adoptOrphans, log) {
  if (!existsSync(statePath)) return null;
  const { pid, port, serverName } = JSON.parse(readFileSync(statePath, 'utf8'));
  if (isProcessAlive(pid) && commandLineOf(pid).includes(storeDir)) {
    const sameAuth = configPath ? commandLineOf(pid).includes(configPath) : !commandLineOf(pid).includes(' -c ');
    if (sameAuth && !(await probeNats(`nats://127.0.0.1:${port}`, serverName))) {
      if (adoptOrphans) {
        log(`nats: taking over nats-server left running on port ${port} by a run that was killed (pid ${pid})`);
        return { url: `nats://127.0.0.1:${port}`, mode: 'local', stop: ownPid(pid, 'SIGTERM', NATS_STOP_GRACE_MS, () => fs.rm(statePath, { force: true })).stop };
      }
      log(`nats: reusing nats-server already running on port ${port} (pid ${pid}); another live process started it, so stop() leaves it running`);
      return notOwned(`nats://127.0.0.1:${port}`, 'local');
    }
    log(`nats: stopping ${sameAuth ? 'unresponsive' : 'differently configured'} nats-server pid ${pid} left from an earlier run (it holds ${storeDir})`);
    await terminatePid(pid, NATS_STOP_GRACE_MS);
  }
  await fs.rm(statePath, { force: true });
  return null;
}
