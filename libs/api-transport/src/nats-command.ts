import type { NatsContext } from '@nestjs/microservices';
import { ApiError } from '@keyledger/contracts';
import type { ReadableHeaders } from '@keyledger/event-bus';
import type { Logger } from '@keyledger/observability';
import { NOT_JSON } from './nats-json.serializer.js';
import type { NatsReply } from './nats-reply.js';
import { natsReply } from './nats-reply.js';
import { inNatsServerSpan } from './server-spans.js';

/** What a request's headers say about its caller, for the service's authenticator. */
export interface RequestCredentials {
  readonly authorization: string | undefined;
  readonly correlationId: string | undefined;
  readonly traceparent: string | undefined;
}

/**
 * One authenticated NATS request/reply: in a server span joined to the caller's trace, a body
 * that is not JSON refused as INVALID_ARGUMENT, the caller authenticated from the headers
 * (`Authorization`, `Keyledger-Correlation-Id`, `traceparent`), then `run`; any failure becomes
 * the error reply. Bodies are never logged here: some carry a key's plaintext.
 */
export function natsCommand<C, T>(
  logger: Logger,
  ctx: NatsContext,
  body: unknown,
  authenticate: (credentials: RequestCredentials) => Promise<C> | C,
  run: (caller: C) => Promise<T> | T,
): Promise<NatsReply<T>> {
  const headers = ctx.getHeaders() as ReadableHeaders | undefined;
  return natsReply(logger, () =>
    inNatsServerSpan(ctx.getSubject(), headers, async () => {
      if (body === NOT_JSON) throw new ApiError('INVALID_ARGUMENT', 'the request body is not JSON');
      return run(
        await authenticate({
          authorization: headers?.get('Authorization'),
          correlationId: headers?.get('Keyledger-Correlation-Id'),
          traceparent: headers?.get('traceparent'),
        }),
      );
    }),
  );
}
