import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { NatsReply } from '@keyledger/api-transport';
import { NOT_JSON, decodeJsonRequest, errorBody, parseRequest } from '@keyledger/api-transport';
import { ApiError, verifyBatchRequestSchema } from '@keyledger/contracts';
import type { VerifyBatchResult } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import { answerOverNats, verifyRequest } from './verify.nats-endpoint.js';
import type { VerifyService } from './verify.service.js';

/**
 * The reply to one `keys.verify-batch` request body: `{ ok: true, result: { results } }`, one
 * verify result per request in the order asked, each verified, limited and recorded exactly as
 * a `keys.verify` call would be (a bad item is MALFORMED in its place); a body that is not a
 * batch (not JSON, no `requests`, none or more than MAX_VERIFY_BATCH of them) is refused as a
 * whole with INVALID_ARGUMENT, and nothing is verified.
 */
export function verifyBatchOverNats(data: Uint8Array, verification: VerifyService, logger: Logger): string {
  let reply: NatsReply<VerifyBatchResult>;
  try {
    const body = decodeJsonRequest(data);
    if (body === NOT_JSON) throw new ApiError('INVALID_ARGUMENT', 'the request body is not JSON');
    const { requests } = parseRequest(verifyBatchRequestSchema, body);
    reply = { ok: true, result: { results: requests.map((request) => verifyRequest(request, verification, logger)) } };
  } catch (error) {
    reply = errorBody(error, logger);
  }
  return JSON.stringify(reply);
}

/** Answers `<prefix>.v1.keys.verify-batch` beside `keys.verify`, on the same connection and queue group. */
export function serveVerifyBatchOverNats(nc: NatsConnection, subject: string, verification: VerifyService, logger: Logger): Subscription {
  return answerOverNats(nc, subject, (data) => verifyBatchOverNats(data, verification, logger), logger);
}
