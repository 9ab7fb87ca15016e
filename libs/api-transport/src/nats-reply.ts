import type { ApiErrorBody } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import { toApiError } from './api-errors.mapper.js';

/** Every NATS reply: `{ ok: true, result }` or `{ ok: false, error: { code, message } }`. */
export type NatsReply<T> = { readonly ok: true; readonly result: T } | ({ readonly ok: false } & ApiErrorBody);

/** Maps any failure to the error body (`toApiError`); only API errors' messages reach the caller. */
export function errorBody(error: unknown, logger: Logger): { ok: false } & ApiErrorBody {
  const mapped = toApiError(error);
  if (mapped) return { ok: false, error: { code: mapped.code, message: mapped.message, ...(mapped.details ? { details: mapped.details } : {}) } };
  logger.error({ err: error }, 'request failed');
  return { ok: false, error: { code: 'INTERNAL', message: 'internal error' } };
}

export async function natsReply<T>(logger: Logger, handle: () => Promise<T> | T): Promise<NatsReply<T>> {
  try {
    return { ok: true, result: await handle() };
  } catch (error) {
    return errorBody(error, logger);
  }
}

/** The bearer token of an `Authorization` header value, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
  return match?.[1];
}
