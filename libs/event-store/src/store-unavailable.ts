/**
 * Connection-level failures (refused, reset, server shutting down or not accepting
 * connections): Node's socket codes and Postgres' SQLSTATE classes 57P (operator intervention)
 * and 08 (connection exception).
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

/**
 * Whether a failure of the store means Postgres cannot be reached right now (a retry later may
 * succeed), not a bug: looks through TypeORM's `driverError` to pg's code or message.
 */
export function isEventStoreUnavailable(error: unknown): boolean {
  const cause = (error as { driverError?: unknown } | null)?.driverError ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : '';
  return (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) || /Connection terminated|timeout exceeded when trying to connect/.test(message);
}
