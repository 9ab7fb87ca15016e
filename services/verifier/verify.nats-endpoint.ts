import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { NOT_JSON, decodeJsonRequest } from '@keyledger/api-transport';
import { verifyKeyRequestSchema } from '@keyledger/contracts';
import type { VerifyResult } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import type { VerifyService } from './verify.service.js';

const MALFORMED = JSON.stringify({ valid: false, code: 'MALFORMED' } satisfies VerifyResult);

/** The reply to one `keys.verify` request body: the verify result as plain JSON; any bad request is MALFORMED, never an error. */
export function verifyOverNats(data: Uint8Array, verification: VerifyService, logger: Logger): string {
  const body = decodeJsonRequest(data);
  if (body === NOT_JSON) return MALFORMED;
  const request = verifyKeyRequestSchema.safeParse(body);
  if (!request.success) return MALFORMED;
  const { key, tenant, scopes, ip, env, cost } = request.data;
  const result = verification.verify(key, { tenant, scopes, ip, environment: env }, 'nats', cost);
  // `key` is on the logger's redaction list; this line proves it stays out of logs.
  if (logger.isLevelEnabled('trace')) logger.trace({ request: request.data, code: result.code }, 'verify');
  return JSON.stringify(result);
}

/**
 * Answers `<prefix>.v1.keys.verify` on the service's own connection, in the same queue group as
 * its other NATS handlers (`keyledger-verifier`), ahead of Nest's microservice transport: it is
 * the internal clients' hot path, and the transport's envelope, observables and per-message
 * bookkeeping cost several times the verification itself (as routing did over HTTP).
 */
export function serveVerifyOverNats(nc: NatsConnection, subject: string, verification: VerifyService, logger: Logger): Subscription {
  return nc.subscribe(subject, {
    queue: 'keyledger-verifier',
    callback: (error, message) => {
      if (error) {
        logger.warn({ err: error }, 'the keys.verify subscription failed');
        return;
      }
      // A request without a reply subject has no one to answer: nothing is verified or recorded.
      if (!message.reply) return;
      message.respond(verifyOverNats(message.data, verification, logger));
    },
  });
}
