import { Metadata } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import type { ApiErrorCode } from '@keyledger/contracts';
import { API_ERRORS } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import { toApiError } from './api-errors.mapper.js';

/** Trailing metadata naming the Keyledger error code of a failed call, e.g. `INVALID_TRANSITION`. */
export const GRPC_ERROR_CODE_TRAILER = 'keyledger-error-code';

/**
 * Maps any failure to the gRPC status of its code (`toApiError`, then API_ERRORS); only API
 * errors' messages reach the caller, anything else is logged and becomes INTERNAL.
 * Nest hands the exception's object to grpc-js, which reads `code`, `message` and `metadata`.
 */
export function toRpcException(error: unknown, logger: Logger): RpcException {
  const mapped = toApiError(error);
  if (!mapped) logger.error({ err: error }, 'request failed');
  const code: ApiErrorCode = mapped?.code ?? 'INTERNAL';
  const message = mapped?.message ?? 'internal error';
  const metadata = new Metadata();
  metadata.set(GRPC_ERROR_CODE_TRAILER, code);
  return new RpcException({ code: API_ERRORS[code].grpc, message, metadata });
}

/** Runs a gRPC handler, turning whatever it throws into the RpcException of its status. */
export async function grpcCall<T>(logger: Logger, handle: () => Promise<T> | T): Promise<T> {
  try {
    return await handle();
  } catch (error) {
    throw toRpcException(error, logger);
  }
}

/** The first value of a gRPC metadata entry, when it is text. */
export function metadataValue(metadata: Metadata | undefined, name: string): string | undefined {
  const [value] = metadata?.get(name) ?? [];
  return typeof value === 'string' ? value : undefined;
}
