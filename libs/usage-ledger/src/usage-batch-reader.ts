import type { MsgHdrs } from '@nats-io/transport-node';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { z } from 'zod';
import type { UsageBatch, UsageBatchV3 } from '@keyledger/contracts';
import { MESSAGE_HEADERS, usageBatchSchema, usageBatchV3Shape, usageColumnsIssues } from '@keyledger/contracts';
import type { EventAuthentication, SealRefusal } from '@keyledger/event-auth';
import { refuseUnlessSealed } from '@keyledger/event-auth';

/** An authentic message of the usage stream that is not a usage batch of any schema version. */
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

/** A problem as the refusal names it: where, and what. */
interface Issue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** A batch of any version, or what is wrong with it; version 3 by `checkColumnarBatch`, the older ones by the contract's zod schema. */
export function checkUsageBatch(json: unknown): { batch: UsageBatch } | { issues: readonly Issue[] } {
  if ((json as { schemaVersion?: unknown } | null)?.schemaVersion === 3) return checkColumnarBatch(json);
  const parsed = usageBatchSchema.safeParse(json);
  return parsed.success ? { batch: parsed.data } : { issues: parsed.error.issues };
}

// Compiled when the module loads: a schema ajv cannot compile fails the service at start, not
// every version 3 batch into the dead-letter subject.
const columnarShape: ValidateFunction<UsageBatchV3> = new Ajv({ unicodeRegExp: false }).compile<UsageBatchV3>(
  z.toJSONSchema(usageBatchV3Shape, { target: 'draft-07' }),
);

/**
 * Version 3 as `usageBatchV3Schema` checks it, faster: its shape by a validator that ajv compiles
 * from the contract's zod schema itself (`z.toJSONSchema(usageBatchV3Shape)`), then the rules
 * across columns (`usageColumnsIssues`). Generated code that loops over an array of integers
 * takes a few nanoseconds an entry where zod's interpreter takes tens, and a batch is mostly such
 * arrays. Lengths count code points and patterns run without the `u` flag, as zod's do (a
 * property test holds the two to the same answers).
 */
export function checkColumnarBatch(json: unknown): { batch: UsageBatchV3 } | { issues: readonly Issue[] } {
  if (!columnarShape(json)) {
    return {
      issues: (columnarShape.errors ?? []).map((error) => ({
        path: error.instancePath.split('/').slice(1),
        // A field not in the schema is named, as zod names it.
        message: `${error.message ?? error.keyword}${error.keyword === 'additionalProperties' ? `: ${String(error.params['additionalProperty'])}` : ''}`,
      })),
    };
  }
  const issues = usageColumnsIssues(json);
  return issues.length === 0 ? { batch: json } : { issues };
}

function decodeAuthenticBatch(data: Uint8Array): UsageBatch {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (error) {
    throw new MalformedUsageMessageError(`usage message is not JSON: ${(error as Error).message}`);
  }
  const checked = checkUsageBatch(json);
  if ('batch' in checked) return checked.batch;
  throw new MalformedUsageMessageError(
    `usage message is not a valid batch: ${checked.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.map(String).join('.')} ${issue.message}`)
      .join('; ')}`,
  );
}
