// Runs a child process to completion, or stops one with a grace period, without blocking the
// event loop. The runners must never use spawnSync while an embedded Postgres started by
// local-stack/embedded-postgres.mjs is alive: its log output flows through a pipe this process
// drains, and a blocked event loop lets the pipe fill until every Postgres backend stalls
// writing its log.
import { spawn } from 'node:child_process';

/** Resolves with the exit code (1 when killed by a signal). */
export function runToExit(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', ...options });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/**
 * Sends `signal` to a child and waits for it to exit, escalating to SIGKILL after graceMs.
 * Also safe for a child that already exited (e.g. killed from outside), where waiting for
 * 'exit' would hang.
 * @param {import('node:child_process').ChildProcess | undefined} child
 * @param {NodeJS.Signals} signal
 * @param {number} graceMs
 */
export async function terminateChild(child, signal, graceMs) {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(force);
}
