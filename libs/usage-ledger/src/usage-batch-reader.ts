import type { MsgHdrs } from '@nats-io/transport-node';
import type { UsageBatch } from '@keyledger/contracts';
import { MESSAGE_HEADERS, usageBatchSchema } from '@keyledger/contracts';
import type { EventAuthentication, SealRefusal } from '@keyledger/event-auth';
import { refuseUnlessSealed } from '@keyledger/event-auth';

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
    const batchId = headers?.get(MESSAGE_HEADERS.msgId) ?? '';
    const refusal = refuseUnlessSealed(
      headers?.get(MESSAGE_HEADERS.usageSeal) ?? '',
      (seal) => this.auth.authenticator.checkUsageBatch(batchId, data, seal),
      'a usage batch',
      'id and body',
    );
    if (refusal) return this.refuse(subject, refusal);
    return decodeAuthenticBatch(data);
  }

  private refuse(subject: string, { reason, detail }: SealRefusal): undefined {
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
