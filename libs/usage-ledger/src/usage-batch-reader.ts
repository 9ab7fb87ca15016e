import type { MsgHdrs } from '@nats-io/transport-node';
import type { EventRejectionReason, UsageBatch } from '@keyledger/contracts';
import { MESSAGE_HEADERS, parseUsageSeal, usageBatchSchema } from '@keyledger/contracts';
import type { EventAuthentication } from '@keyledger/event-auth';

/** An authentic message of the usage stream that is not a usage batch of either schema version. */
export class MalformedUsageMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedUsageMessageError';
  }
}

/**
 * The one way from a message of the usage stream to a UsageBatch; the auditor's usage ledger
 * and the anomaly detector both read through it. The seal (`Keyledger-Usage-Seal`, over the key
 * version, `Nats-Msg-Id` and the body's bytes) is checked before a byte of the body is parsed.
 *
 * A message without a seal, with a seal that does not verify (a stranger's, a changed body, a
 * genuine body under another batch id) or of a key version not configured is reported to the
 * rejection sink (counted in `keyledger_events_rejected_total{source="bus"}`, logged, alerted) and
 * `read` answers undefined: the consumer acknowledges and skips it. A forgery is not dead-lettered:
 * it is nothing to repair or replay, and a stranger could otherwise fill the dead-letter stream.
 * An authentic message that is no valid batch (a verifier's bug) throws
 * MalformedUsageMessageError and is dead-lettered as before, to be looked at.
 */
export class UsageBatchReader {
  constructor(private readonly auth: EventAuthentication) {}

  read(data: Uint8Array, subject: string, headers: MsgHdrs | undefined): UsageBatch | undefined {
    const sealHeader = headers?.get(MESSAGE_HEADERS.usageSeal) ?? '';
    if (sealHeader === '') return this.refuse(subject, 'unsealed', 'a usage batch without a seal');
    const seal = parseUsageSeal(sealHeader);
    if (seal === undefined) return this.refuse(subject, 'malformed', 'a usage batch seal that is not <version>:<base64 MAC>');
    const batchId = headers?.get(MESSAGE_HEADERS.msgId) ?? '';
    const mac = this.auth.authenticator.checkUsageBatch(batchId, data, seal);
    if (mac !== 'ok')
      return this.refuse(
        subject,
        mac,
        mac === 'bad-mac' ? 'the usage batch seal does not match its id and body' : `no event key version ${seal.v} is configured`,
      );
    return decodeAuthenticBatch(data);
  }

  private refuse(subject: string, reason: EventRejectionReason, detail: string): undefined {
    this.auth.rejections.reject({ source: 'bus', reason, subject, detail });
    return undefined;
  }
}

function decodeAuthenticBatch(data: Uint8Array): UsageBatch {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (error) {
    throw new MalformedUsageMessageError(`usage message is not JSON: ${(error as Error).message}`);
  }
  const parsed = usageBatchSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  throw new MalformedUsageMessageError(
    `usage message is not a valid batch: ${parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.')} ${issue.message}`)
      .join('; ')}`,
  );
}
