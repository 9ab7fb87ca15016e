import pRetry from 'p-retry';
import { ConcurrencyConflictError } from '@keyledger/event-store';

/**
 * Runs `run` again, a few times and quickly, while its append loses a race (another writer
 * appended to the stream first): `run` re-reads and decides again. Other failures end it at once.
 */
export function retryConflicts<T>(run: () => Promise<T>): Promise<T> {
  return pRetry(run, { retries: 3, minTimeout: 5, maxTimeout: 50, shouldRetry: (error) => error instanceof ConcurrencyConflictError });
}
