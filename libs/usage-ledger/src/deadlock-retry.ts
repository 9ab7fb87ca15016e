import pRetry from 'p-retry';

/** SQLSTATE of the transaction Postgres rolled back to break a deadlock. */
const DEADLOCK_DETECTED = '40P01';

/**
 * Runs `run` again when Postgres chose its transaction to break a deadlock, telling `onRetry`
 * each time. Stores, folds and the partition functions take the usage tables' locks in one
 * order, so they wait for each other rather than deadlock; this is for anything else that
 * locks them otherwise (a query, an operator's statement, a partition function of an older
 * release during an upgrade). The transaction rolled back changed nothing, and running it again
 * is what makes it succeed. Any other failure reaches the caller at once, as it was thrown.
 */
export function retryDeadlocks<T>(run: () => Promise<T>, onRetry?: () => void): Promise<T> {
  return pRetry(run, {
    retries: 5,
    minTimeout: 20,
    maxTimeout: 500,
    randomize: true,
    shouldRetry: isDeadlockVictim,
    // Called for every failed attempt, the last and those not retried included.
    onFailedAttempt: (error) => {
      if (isDeadlockVictim(error) && error.retriesLeft > 0) onRetry?.();
    },
  });
}

function isDeadlockVictim(error: unknown): boolean {
  return sqlStateOf(error) === DEADLOCK_DETECTED;
}

/** The SQLSTATE of a Postgres error, as TypeORM wraps it or as pg threw it. */
export function sqlStateOf(error: unknown): unknown {
  return (((error as { driverError?: unknown } | null)?.driverError ?? error) as { code?: unknown } | null)?.code;
}
