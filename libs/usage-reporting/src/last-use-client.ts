import type { NatsConnection } from '@nats-io/transport-node';
import type { ApiErrorCode, LastUsedAnswer } from '@keyledger/contracts';
import { ApiError, apiSubject, lastUsedAnswerSchema } from '@keyledger/contracts';

/**
 * Asks the auditor, over NATS request/reply (`<prefix>.v1.usage.last-used`), for the last use
 * of a batch of keys and its usage watermark: the rotator's `LastUseSource`. No answer within
 * the timeout, no auditor listening, an error reply or a malformed answer all throw, and the
 * rotator then ends no grace.
 */
export class AuditorLastUseClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly timeoutMs: number,
  ) {}

  async lastUsed(keyIds: readonly string[]): Promise<LastUsedAnswer> {
    const reply = await this.nc.request(apiSubject(this.prefix, 'usage.last-used'), JSON.stringify({ keyIds }), { timeout: this.timeoutMs });
    const answer = reply.json<{ ok: true; result: unknown } | { ok: false; error: { code: ApiErrorCode; message: string } }>();
    if (!answer.ok) throw new ApiError(answer.error.code, answer.error.message);
    const parsed = lastUsedAnswerSchema.safeParse(answer.result);
    if (!parsed.success) throw new ApiError('INTERNAL', 'the auditor answered usage.last-used with an unexpected shape');
    return parsed.data;
  }
}
