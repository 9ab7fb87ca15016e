import pRetry from 'p-retry';

/** SQLSTATE of the transaction Postgres rolled back to break a deadlock. */
const DEADLOCK_DETECTED = '40P01';

/**
 * Runs `run` again when Postgres chose its transaction to break a deadlock. Creating or dropping a
 * day's partitions locks each parent table whole, one after another, while storing, folding and
 * reading lock them in an order of their own, so two such transactions may each wait for the
 * other. The one rolled back changed nothing, and running it again is what makes it succeed.
 * Any other failure reaches the caller at once, as it was thrown.
 */
export function retryDeadlocks<T>(run: () => Promise<T>): Promise<T> {
  return pRetry(run, { retries: 5, minTimeout: 20, maxTimeout: 500, randomize: true, shouldRetry: isDeadlockVictim });
}

function isDeadlockVictim(error: unknown): boolean {
  const cause = ((error as { driverError?: unknown } | null)?.driverError ?? error) as { code?: unknown } | null;
  return cause?.code === DEADLOCK_DETECTED;
}
