// Ownership of the servers this process starts (embedded PostgreSQL, nats-server): each has an
// idempotent stop(), and whatever is still running when this process exits or is interrupted is
// stopped too, so a Ctrl-C never leaves a server behind holding its data folder. Also the checks
// used to recognise a server left running by an earlier, killed run.
//
// Plain ES module using only Node builtins.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

/** Children started here that are still running; signalled on exit/SIGINT/SIGTERM. */
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

/**
 * Stops a process we did not spawn (a leftover from a killed run): SIGTERM, then SIGKILL after
 * graceMs; resolves once it is gone.
 * @param {number} pid
 * @param {number} graceMs
 */
export async function terminatePid(pid, graceMs) {
  process.kill(pid, 'SIGTERM');
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
