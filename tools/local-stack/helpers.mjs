// Small helpers shared by the local-stack modules: error text for log lines, short paths, the
// last lines of a server's log, a run-once wrapper. Plain ES module using only Node builtins.

import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Intentionally empty: each call site explains why that error does not matter. */
export function ignoreError() {}

/**
 * The readable part of an error for a one-line message. Node 20 reports a refused connection to a
 * multi-address host as an AggregateError with no message, so its inner errors are listed instead.
 * @param {unknown} error
 * @returns {string}
 */
export function errorText(error) {
  if (error instanceof AggregateError && !error.message) return error.errors.map(errorText).join('; ');
  return error?.message || error?.code || String(error);
}

/**
 * `target` relative to `root` when it lies inside it, so log lines stay short; otherwise unchanged.
 * @param {string | undefined} root
 * @param {string} target
 * @returns {string}
 */
export function shortPath(root, target) {
  const relative = root ? path.relative(root, target) : target;
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : target;
}

/**
 * Runs `fn` on the first call only; later calls get the first call's result (a stop() that is
 * safe to call twice).
 * @template T
 * @param {() => T} fn
 * @returns {() => T}
 */
export function once(fn) {
  let result;
  return () => (result ??= fn());
}

/**
 * The last lines of a server's log file, indented, for an error message.
 * @param {string} logPath
 * @returns {string}
 */
export function logTail(logPath) {
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
