// Runs a child process to completion without blocking the event loop. The runners must
// never use spawnSync while an embedded Postgres started by local-stack.mjs is alive: its
// log output flows through a pipe this process drains, and a blocked event loop lets the
// pipe fill until every Postgres backend stalls writing its log.
import { spawn } from 'node:child_process';

/** Resolves with the exit code (1 when killed by a signal). */
export function runToExit(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', ...options });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
