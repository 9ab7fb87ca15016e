// Ownership of the servers this process starts (embedded PostgreSQL, nats-server) or adopts from
// an earlier run that was killed: each has an idempotent stop(), and whatever is still running
// when this process exits or is interrupted is stopped too, so an exit never leaves a server
// behind holding its data folder. Also the checks used to recognise a server left running by an
// earlier, killed run, and the record of which process owns the servers of a data folder.
//
// Plain ES module using only Node builtins.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { terminateChild } from '../run-process.mjs';
import { once } from './helpers.mjs';

/**
 * A server as ensureStack's parts report it: where to reach it, how it was found, and a stop()
 * that stops it only if it was started here.
 * @typedef {object} ServerHandle
 * @property {string} url
 * @property {string} mode
 * @property {() => Promise<void>} stop
 */

/**
 * A server that was found, not started here: stop() leaves it running.
 * @param {string} url
 * @param {string} mode
 * @returns {ServerHandle}
 */
export function notOwned(url, mode) {
  return { url, mode, stop: async () => {} };
}

/** Servers started or adopted here that are still running; signalled on exit/SIGINT/SIGTERM. */
const ownedChildren = new Set();

/**
 * Registers a child we started. Its stop() sends `signal` (SIGINT = PostgreSQL "fast shutdown",
 * SIGTERM for nats-server), escalates to SIGKILL after graceMs, then runs cleanup. Idempotent.
 * @param {import('node:child_process').ChildProcess} child
 * @param {NodeJS.Signals} signal
 * @param {number} graceMs
 * @param {() => Promise<unknown> | unknown} cleanup
 * @returns {{ stop: () => Promise<void> }}
 */
export function ownChild(child, signal, graceMs, cleanup) {
  return own(() => child.kill(signal), () => terminateChild(child, signal, graceMs), cleanup);
}

/**
 * Takes over a server an earlier, killed run left behind (not our child): stop() sends `signal`
 * to the pid, escalates to SIGKILL after graceMs and waits until it is gone, then runs cleanup.
 * @param {number} pid
 * @param {NodeJS.Signals} signal
 * @param {number} graceMs
 * @param {() => Promise<unknown> | unknown} cleanup
 * @returns {{ stop: () => Promise<void> }}
 */
export function ownPid(pid, signal, graceMs, cleanup) {
  return own(() => isProcessAlive(pid) && process.kill(pid, signal), () => terminatePid(pid, graceMs, signal), cleanup);
}

function own(signalNow, terminate, cleanup) {
  const entry = { signalNow };
  entry.stop = once(async () => {
    await terminate();
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
  for (const { signalNow } of ownedChildren) signalNow();
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

/**
 * Stops a process we did not spawn (a leftover from a killed run): `signal`, then SIGKILL after
 * graceMs; resolves once it is gone.
 * @param {number} pid
 * @param {number} graceMs
 * @param {NodeJS.Signals} [signal]
 */
export async function terminatePid(pid, graceMs, signal = 'SIGTERM') {
  if (!isProcessAlive(pid)) return;
  process.kill(pid, signal);
  const deadline = Date.now() + graceMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isProcessAlive(pid)) await sleep(50);
}

/**
 * @param {number} pid
 * @returns {boolean}
 */
export function isProcessAlive(pid) {
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

/**
 * The process's command line, or '' when it cannot be read (it may have just exited). Used to
 * tell a leftover server (its data folder is on its command line) from an unrelated process
 * that was given the same pid.
 * @param {number} pid
 * @returns {string}
 */
export function commandLineOf(pid) {
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

const OWNER_FILE = 'stack-owner.json';

/**
 * The pid of another live process that owns the servers started under dataDir (an `npm start`
 * or a test run still running), or undefined when there is none: its servers are then either
 * gone or orphans of a run that was killed, which this process may take over.
 * @param {string} dataDir
 * @returns {number | undefined}
 */
export function liveStackOwner(dataDir) {
  const pid = recordedOwner(dataDir);
  return pid !== undefined && pid !== process.pid && isProcessAlive(pid) ? pid : undefined;
}

/**
 * Records this process as the owner of dataDir's servers; the returned function removes the
 * record if it is still ours.
 * @param {string} dataDir
 * @returns {() => void}
 */
export function recordStackOwner(dataDir) {
  const file = path.join(dataDir, OWNER_FILE);
  writeFileSync(file, `${JSON.stringify({ pid: process.pid })}\n`);
  return () => {
    if (recordedOwner(dataDir) === process.pid) rmSync(file, { force: true });
  };
}

function recordedOwner(dataDir) {
  try {
    const { pid } = JSON.parse(readFileSync(path.join(dataDir, OWNER_FILE), 'utf8'));
    return Number.isInteger(pid) ? pid : undefined;
  } catch (error) {
    // No record, or a torn one: either way no owner is known.
    if (error.code === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
