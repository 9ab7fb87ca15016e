import type { UsageBatch } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES } from '@keyledger/contracts';
import type { BatchHandler, ConsumerSettings, DurableConsumerDependencies } from '@keyledger/consumer-runtime';
import { DEFAULT_REDELIVERY_POLICY, DurableConsumer } from '@keyledger/consumer-runtime';
import type { EventAuthentication } from '@keyledger/event-auth';
import { UsageBatchReader } from './usage-batch-reader.js';
import type { UsageLedger } from './usage-ledger.js';

export interface UsageConsumerDependencies extends DurableConsumerDependencies {
  readonly ledger: Pick<UsageLedger, 'ingest'>;
  /** Checks each batch's seal; refusals go to its sink. */
  readonly auth: EventAuthentication;
}

export interface UsageConsumerSettings extends ConsumerSettings {
  /** The durable consumer's name. */
  readonly name: string;
  /** Batches (messages) stored per transaction at most. */
  readonly batchesPerIngest: number;
  /**
   * How long the first batch to arrive waits for more before they are stored together: fewer,
   * larger statements under load; it delays what usage queries see by as much.
   */
  readonly ingestWaitMs: number;
}

export const DEFAULT_USAGE_CONSUMER_SETTINGS: UsageConsumerSettings = {
  name: DURABLE_CONSUMER_NAMES.auditorUsage,
  batchesPerIngest: 64,
  ingestWaitMs: 1000,
  ackWaitMs: 30_000,
  redelivery: DEFAULT_REDELIVERY_POLICY,
};

/**
 * Usage batches as the batch mode of the consumer runtime takes them: read through
 * `UsageBatchReader` (seal checked, then any schema version), identified by batch id, stored
 * by `UsageLedger.ingest` in one statement, which skips the batch ids it already holds.
 */
export function usageBatchHandler(ledger: Pick<UsageLedger, 'ingest'>, reader: UsageBatchReader): BatchHandler<UsageBatch> {
  return {
    decode: (data, subject, headers) => reader.read(data, subject, headers),
    id: (batch) => batch.batchId,
    occurredAt: (batch) => new Date(batch.createdAt).toISOString(),
    store: (batches) => ledger.ingest(batches),
  };
}

/**
 * Stores the usage stream in the ledger: the runtime's `DurableConsumer` in batch mode over
 * the usage stream, with `usageBatchHandler`. The batches that arrive within `ingestWaitMs` of
 * the first (up to `batchesPerIngest`) are stored in one statement, then acked. A crash before the ack
 * redelivers them and the ledger recognises their ids, so nothing is lost and nothing is
 * counted twice; a failing ingest is retried without limit (usage is never dropped for a
 * database outage); a message whose seal does not verify is acknowledged and skipped (counted
 * and alerted); an authentic message that is not a valid batch is dead-lettered at once
 * (`<prefix>.dlq.<name>`). Its `ingestedUntil` is the usage watermark.
 */
export class UsageConsumer extends DurableConsumer<UsageBatch> {
  constructor(deps: UsageConsumerDependencies, settings: UsageConsumerSettings = DEFAULT_USAGE_CONSUMER_SETTINGS) {
    const { topology } = deps;
    // A batch held past ack wait is redelivered while it is being stored: stored once (by id), but sent twice.
    if (settings.ingestWaitMs * 2 > settings.ackWaitMs)
      throw new Error(`the usage ingest wait (${settings.ingestWaitMs} ms) must be at most half the ack wait (${settings.ackWaitMs} ms)`);
    super(
      deps,
      { name: settings.name, stream: topology.usageStream, filterSubject: topology.usageSubjects },
      {
        kind: 'batch',
        handler: usageBatchHandler(deps.ledger, new UsageBatchReader(deps.auth)),
        maxMessages: settings.batchesPerIngest,
        maxWaitMs: settings.ingestWaitMs,
      },
      settings,
    );
  }
}
