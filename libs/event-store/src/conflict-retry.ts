import pRetry from 'p-retry';
import { ConcurrencyConflictError } from './event-store.errors.js';

/**
 * Runs `run` again, a few times and quickly, while its append loses a race (another writer
 * appended to the stream first): `run` re-reads and decides again. Any other failure ends it at
 * once and reaches the caller as it was thrown, unwrapped.
 */
export function retryConflicts<T>(run: () => Promise<T>): Promise<T> {
  return pRetry(run, { retries: 3, minTimeout: 5, maxTimeout: 50, shouldRetry: (error) => error instanceof ConcurrencyConflictError });
}
