import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from '@keyledger/observability';
import { grpcCall, metadataValue } from './grpc-errors.js';
import type { RequestCredentials } from './nats-command.js';
import { inGrpcServerSpan } from './server-spans.js';

/** An optional field of a request message as @grpc/proto-loader hands it over (unset: null or undefined). */
export type Optional<T> = T | null | undefined;

/** An optional field's value, or undefined when it is unset, as a request schema expects it. */
export function present<T>(value: Optional<T>): T | undefined {
  return value ?? undefined;
}

/**
 * One authenticated gRPC call, as natsCommand is over NATS: in a server span joined to the
 * caller's trace, the caller authenticated from the metadata (`authorization`,
 * `keyledger-correlation-id`, `traceparent`), then `run`; any failure becomes the gRPC status
 * of its code. Messages are never logged here: some carry a key's plaintext.
 */
export function grpcCommand<C, T>(
  logger: Logger,
  service: string,
  method: string,
  metadata: Metadata,
  authenticate: (credentials: RequestCredentials) => Promise<C> | C,
  run: (caller: C) => Promise<T> | T,
): Promise<T> {
  return grpcCall(logger, () =>
    inGrpcServerSpan(service, method, metadata, async () =>
      run(
        await authenticate({
          authorization: metadataValue(metadata, 'authorization'),
          correlationId: metadataValue(metadata, 'keyledger-correlation-id'),
          traceparent: metadataValue(metadata, 'traceparent'),
        }),
      ),
    ),
  );
}
