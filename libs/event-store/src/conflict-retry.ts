import pRetry from 'p-retry';
import { ConcurrencyConflictError } from './event-store.errors.js';

/**
 * Runs `run` again, a few times and quickly, while its append loses a race (another writer
 * appended to the stream first): `run` re-reads and decides again; it is told which attempt it
 * is (1 first). Any other failure ends it at once and reaches the caller as it was thrown, unwrapped.
 */
export function retryConflicts<T>(run: (attempt: number) => Promise<T>): Promise<T> {
  return pRetry(run, { retries: 3, minTimeout: 5, maxTimeout: 50, shouldRetry: (error) => error instanceof ConcurrencyConflictError });
}
