import type { NatsConnection } from '@nats-io/transport-node';
import type { ApiErrorCode, LastUsedAnswer, LastUsedRequest } from '@keyledger/contracts';
import { API_ERRORS, ApiError, apiSubject } from '@keyledger/contracts';
import type { EventAuthenticator } from '@keyledger/event-auth';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedCounter } from '@keyledger/observability';
import { newLastUsedNonce, readLastUsedAnswer } from './last-used-answer.js';

export interface AuditorLastUseClientDependencies {
  readonly nc: NatsConnection;
  /** `KEYLEDGER_SUBJECT_PREFIX`. */
  readonly prefix: string;
  /** Checks the auditor's seal on each answer. */
  readonly authenticator: EventAuthenticator;
  readonly logger: Logger;
}

/**
 * Asks the auditor, over NATS request/reply (`<prefix>.v1.usage.last-used`), for the last use
 * of a batch of keys and its usage watermark: the rotator's `LastUseSource`. Each request
 * carries a fresh nonce, and only the auditor's sealed answer to that very request is believed.
 * No answer within the timeout, no auditor listening, an error reply, a malformed answer or one
 * whose seal does not verify all throw, and the rotator then ends no grace.
 */
export class AuditorLastUseClient {
  private refused = 0;

  constructor(
    private readonly deps: AuditorLastUseClientDependencies,
    private readonly timeoutMs: number,
  ) {}

  async lastUsed(keyIds: readonly string[]): Promise<LastUsedAnswer> {
    const request: LastUsedRequest = { keyIds: [...keyIds], nonce: newLastUsedNonce() };
    const reply = await this.deps.nc.request(apiSubject(this.deps.prefix, 'usage.last-used'), JSON.stringify(request), { timeout: this.timeoutMs });
    const body = replyBody(reply.data);
    // An error reply is not sealed: believing it can only keep graces running, as no answer does.
    if (body?.ok === false)
      throw new ApiError(apiErrorCode(body.error?.code), typeof body.error?.message === 'string' ? body.error.message : 'usage.last-used failed');
    const read = readLastUsedAnswer(this.deps.authenticator, request, body?.ok === true ? body.result : undefined);
    if (!read.ok) {
      // Someone else answered first (an open NATS), or an auditor without this event key:
      // believed, "never used" would end graces of keys still in use.
      this.refused += 1;
      this.deps.logger.warn(
        { reason: read.reason, keys: keyIds.length },
        'refused an answer to usage.last-used that is not the auditor’s sealed answer to this request',
      );
      throw new ApiError('INTERNAL', `the answer to usage.last-used was refused (${read.reason})`);
    }
    return read.answer;
  }

  /** Answers refused because they were malformed or their seal did not verify for the request. */
  get refusedAnswers(): number {
    return this.refused;
  }
}

interface ReplyBody {
  readonly ok?: unknown;
  readonly result?: unknown;
  readonly error?: { readonly code?: unknown; readonly message?: unknown };
}

/** A reply's JSON object, or undefined for anything else (refused by the caller). */
function replyBody(data: Uint8Array): ReplyBody | undefined {
  try {
    const body: unknown = JSON.parse(new TextDecoder().decode(data));
    return typeof body === 'object' && body !== null ? body : undefined;
  } catch {
    // Not JSON: not the auditor's.
    return undefined;
  }
}

function apiErrorCode(code: unknown): ApiErrorCode {
  return typeof code === 'string' && Object.hasOwn(API_ERRORS, code) ? (code as ApiErrorCode) : 'INTERNAL';
}

/** The client's metrics, read from its totals at scrape time. */
export function registerLastUseClientMetrics(registry: Registry, client: Pick<AuditorLastUseClient, 'refusedAnswers'>): void {
  scrapedCounter(
    registry,
    'keyledger_rotator_usage_answers_refused_total',
    'Answers to usage.last-used refused as not the auditor’s sealed answer to the request (their graces ran on)',
    () => client.refusedAnswers,
  );
}
