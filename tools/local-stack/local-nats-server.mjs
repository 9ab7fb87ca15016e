// Runs a nats-server with JetStream for KeyLedger when none was found: its store in
// <dataDir>/nats, its output in <dataDir>/nats-server.log, and its pid, port and name in
// <dataDir>/nats-server.json so that a server left running by an earlier, killed run is reused
// (or stopped) rather than started twice on one store. The port is KEYLEDGER_LOCAL_NATS_PORT
// when set, else 4222 when asked for and free (where the keyledger CLI looks), else a free one.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorText, shortPath } from './helpers.mjs';
import { DEFAULT_NATS_URL, parseNatsUrl, probeNats } from './nats-probe.mjs';
import { findOrInstallNatsServer } from './nats-server-install.mjs';
import { commandLineOf, isProcessAlive, notOwned, ownChild, terminatePid } from './owned-processes.mjs';
import { choosePort } from './ports.mjs';
import { prepareLocalNatsAuth } from './local-nats-auth.mjs';

const NATS_READY_TIMEOUT_MS = 10_000;
const NATS_STOP_GRACE_MS = 5_000;

/**
 * @param {{ root: string, dataDir: string, natsOnDefaultPort?: boolean, natsAuth?: boolean, log: (message: string) => void }} context
 * @returns {Promise<import('./owned-processes.mjs').ServerHandle & { auth?: { dir: string, credsFile: (role: string) => string } }>} mode 'local'
 */
export async function startLocalNats({ root, dataDir, natsOnDefaultPort, natsAuth, log }) {
  const binary = await findOrInstallNatsServer(log);
  const storeDir = path.join(dataDir, 'nats');
  const statePath = path.join(dataDir, 'nats-server.json');
  const auth = natsAuth ? await prepareLocalNatsAuth({ root, dataDir, log }) : undefined;
  // A server left from an earlier run is reused only if it runs with the same configuration (with or without auth).
  const adopted = await handlePreviousNats(statePath, storeDir, auth?.configPath, log);
  if (adopted) return { ...adopted, auth };

  const defaultPort = parseNatsUrl(DEFAULT_NATS_URL).port;
  const port = await choosePort({ envName: 'KEYLEDGER_LOCAL_NATS_PORT', preferred: natsOnDefaultPort ? defaultPort : undefined });
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
  return { url: `nats://127.0.0.1:${port}`, mode: 'local', stop: owned.stop, auth };
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
async function handlePreviousNats(statePath, storeDir, configPath, log) {
  if (!existsSync(statePath)) return null;
  const { pid, port, serverName } = JSON.parse(readFileSync(statePath, 'utf8'));
  if (isProcessAlive(pid) && commandLineOf(pid).includes(storeDir)) {
    const sameAuth = configPath ? commandLineOf(pid).includes(configPath) : !commandLineOf(pid).includes(' -c ');
    if (sameAuth && !(await probeNats(`nats://127.0.0.1:${port}`, serverName))) {
      log(`nats: reusing nats-server already running on port ${port} (pid ${pid}); not started here, so stop() leaves it running`);
      return notOwned(`nats://127.0.0.1:${port}`, 'local');
    }
    log(`nats: stopping ${sameAuth ? 'unresponsive' : 'differently configured'} nats-server pid ${pid} left from an earlier run (it holds ${storeDir})`);
    await terminatePid(pid, NATS_STOP_GRACE_MS);
  }
  await fs.rm(statePath, { force: true });
  return null;
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
