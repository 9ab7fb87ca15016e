import type { UsageBatch } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES, usageBatchSchema } from '@keyledger/contracts';
import type { BatchHandler, ConsumerSettings, DurableConsumerDependencies } from '@keyledger/consumer-runtime';
import { DEFAULT_REDELIVERY_POLICY, DurableConsumer } from '@keyledger/consumer-runtime';
import type { UsageLedger } from './usage-ledger.js';

export interface UsageConsumerDependencies extends DurableConsumerDependencies {
  readonly ledger: Pick<UsageLedger, 'ingest'>;
}

export interface UsageConsumerSettings extends ConsumerSettings {
  /** The durable consumer's name. */
  readonly name: string;
  /** Batches (messages) stored per transaction at most. */
  readonly batchesPerIngest: number;
}

export const DEFAULT_USAGE_CONSUMER_SETTINGS: UsageConsumerSettings = {
  name: DURABLE_CONSUMER_NAMES.auditorUsage,
  batchesPerIngest: 16,
  ackWaitMs: 30_000,
  redelivery: DEFAULT_REDELIVERY_POLICY,
};

/** A message of the usage stream that is not a usage batch of either schema version. */
export class MalformedUsageMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedUsageMessageError';
  }
}

/**
 * Usage batches as the batch mode of the consumer runtime takes them: decoded with
 * `usageBatchSchema` (version 1 may still wait in the stream after the verifiers moved to
 * version 2), identified by batch id, stored by `UsageLedger.ingest` in one statement, which
 * skips the batch ids it already holds.
 */
export function usageBatchHandler(ledger: Pick<UsageLedger, 'ingest'>): BatchHandler<UsageBatch> {
  return {
    decode: decodeUsageBatch,
    id: (batch) => batch.batchId,
    occurredAt: (batch) => new Date(batch.createdAt).toISOString(),
    store: (batches) => ledger.ingest(batches),
  };
}

/**
 * Stores the usage stream in the ledger: the runtime's `DurableConsumer` in batch mode over
 * the usage stream, with `usageBatchHandler`. Whatever batches have arrived (up to
 * `batchesPerIngest`) are stored in one statement, then acked. A crash before the ack
 * redelivers them and the ledger recognises their ids, so nothing is lost and nothing is
 * counted twice; a failing ingest is retried without limit (usage is never dropped for a
 * database outage); a message that is not a valid batch is dead-lettered at once
 * (`<prefix>.dlq.<name>`). Its `ingestedUntil` is the usage watermark.
 */
export class UsageConsumer extends DurableConsumer<UsageBatch> {
  constructor(deps: UsageConsumerDependencies, settings: UsageConsumerSettings = DEFAULT_USAGE_CONSUMER_SETTINGS) {
    const { topology } = deps;
    super(
      deps,
      { name: settings.name, stream: topology.usageStream, filterSubject: topology.usageSubjects },
      { kind: 'batch', handler: usageBatchHandler(deps.ledger), maxMessages: settings.batchesPerIngest, maxWaitMs: 0 },
      settings,
    );
  }
}

/** The batch a message carries; throws `MalformedUsageMessageError` saying why it is none. Every reader of the usage stream decodes with it. */
export function decodeUsageBatch(data: Uint8Array): UsageBatch {
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
