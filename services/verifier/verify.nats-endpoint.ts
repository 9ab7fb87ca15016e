import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { NOT_JSON, decodeJsonRequest, errorBody } from '@keyledger/api-transport';
import { maxPayloadOf } from '@keyledger/event-bus';
import { ApiError, verifyKeyRequestSchema } from '@keyledger/contracts';
import type { VerifyResult } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import type { VerifyService } from './verify.service.js';

const MALFORMED_RESULT: VerifyResult = Object.freeze({ valid: false, code: 'MALFORMED' });
const MALFORMED = JSON.stringify(MALFORMED_RESULT);

/** The result for one `keys.verify` request, already parsed from JSON: a request that breaks the schema is MALFORMED and nothing is verified or recorded. */
export function verifyRequest(body: unknown, verification: VerifyService, logger: Logger): VerifyResult {
  const request = verifyKeyRequestSchema.safeParse(body);
  if (!request.success) return MALFORMED_RESULT;
  const { key, tenant, scopes, ip, env, cost } = request.data;
  const result = verification.verify(key, { tenant, scopes, ip, environment: env }, 'nats', cost);
  // `key` is on the logger's redaction list; this line proves it stays out of logs.
  if (logger.isLevelEnabled('trace')) logger.trace({ request: request.data, code: result.code }, 'verify');
  return result;
}

/** The reply to one `keys.verify` request body: the verify result as plain JSON; any bad request is MALFORMED, never an error. */
export function verifyOverNats(data: Uint8Array, verification: VerifyService, logger: Logger): string {
  const body = decodeJsonRequest(data);
  if (body === NOT_JSON) return MALFORMED;
  return JSON.stringify(verifyRequest(body, verification, logger));
}

/**
 * Answers `subject` on the service's own connection with `answer(request body)`, in the same
 * queue group as its other NATS handlers (`keyledger-verifier`), ahead of Nest's microservice
 * transport: verification is the internal clients' hot path, and the transport's envelope,
 * observables and per-message bookkeeping cost several times the verification itself (as
 * routing did over HTTP).
 */
export function answerOverNats(nc: NatsConnection, subject: string, answer: (data: Uint8Array) => string, logger: Logger): Subscription {
  return nc.subscribe(subject, {
    queue: 'keyledger-verifier',
    callback: (error, message) => {
      if (error) {
        logger.warn({ err: error, subject }, 'a verify subscription failed');
        return;
      }
      // A request without a reply subject has no one to answer: nothing is verified or recorded.
      if (!message.reply) return;
      const reply = answer(message.data);
      try {
        message.respond(fitting(reply, maxPayloadOf(nc), logger));
      } catch (failure) {
        // Thrown here, it would end the client's read loop and leave every subscription deaf.
        logger.warn({ err: failure, subject }, 'a verify reply could not be sent');
      }
    },
  });
}

/**
 * The reply, or, when it is over what NATS carries (a batch of keys with many scopes and much
 * metadata), an INVALID_ARGUMENT saying so: the server would refuse it, and the caller wait.
 */
function fitting(reply: string, maxPayload: number, logger: Logger): string {
  const bytes = Buffer.byteLength(reply);
  if (bytes <= maxPayload) return reply;
  logger.warn({ bytes, limit: maxPayload }, 'a verify reply exceeded the NATS message size; the caller was sent an error instead');
  const refusal = new ApiError('INVALID_ARGUMENT', `the answer is ${bytes} bytes, over the ${maxPayload} a NATS message may carry: verify fewer keys at once`);
  return JSON.stringify(errorBody(refusal, logger));
}

/** Answers `<prefix>.v1.keys.verify` (see `answerOverNats`). */
export function serveVerifyOverNats(nc: NatsConnection, subject: string, verification: VerifyService, logger: Logger): Subscription {
  return answerOverNats(nc, subject, (data) => verifyOverNats(data, verification, logger), logger);
}
