import { AckPolicy, DeliverPolicy, JetStreamApiError } from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/transport-node';
import type { UsageBatch } from '@keyledger/contracts';
import { MESSAGE_HEADERS, deadLetterSubject, usageBatchSchema } from '@keyledger/contracts';
import type { ConsumerBacklog, HandledDelivery, RedeliveryPolicy } from '@keyledger/consumer-runtime';
import { DEFAULT_REDELIVERY_POLICY, redeliveryDelay } from '@keyledger/consumer-runtime';
import type { BusTopology } from '@keyledger/event-bus';
import type { Logger } from '@keyledger/observability';
import type { UsageLedger } from './usage-ledger.js';

export interface UsageConsumerDependencies {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: BusTopology;
  readonly ledger: Pick<UsageLedger, 'ingest'>;
  readonly logger: Logger;
  /** Told about every message once handled (`consumerMetrics(registry).onDelivery`). */
  readonly onDelivery?: (delivery: HandledDelivery) => void;
}

export interface UsageConsumerSettings {
  /** The durable consumer's name. */
  readonly name: string;
  /** Batches (messages) stored per transaction at most. */
  readonly batchesPerIngest: number;
  /** How long JetStream waits for an ack before redelivering (a crashed auditor). */
  readonly ackWaitMs: number;
  readonly redelivery: RedeliveryPolicy;
}

export const DEFAULT_USAGE_CONSUMER_SETTINGS: UsageConsumerSettings = {
  name: 'auditor-usage',
  batchesPerIngest: 16,
  ackWaitMs: 30_000,
  redelivery: DEFAULT_REDELIVERY_POLICY,
};

/**
 * Stores the usage stream in the ledger from a durable pull consumer. Messages are usage
 * batches of either schema version (`usageBatchSchema`: version 1 may still wait in the stream
 * after the verifiers moved to version 2); whatever has arrived (up to `batchesPerIngest`) is
 * stored in one statement, then acked. A crash before the ack redelivers the batches, and the ledger recognises their ids,
 * so nothing is lost and nothing is counted twice. A failing ingest is nak'ed with backoff
 * and retried without limit: usage is never dropped for a database outage. A message that is
 * not a valid batch is dead-lettered at once (`<prefix>.dlq.<name>`) and terminated.
 *
 * The server holds at most 2 × batchesPerIngest unacknowledged messages for the consumer
 * (`max_ack_pending`), which bounds what the auditor buffers.
 */
export class UsageConsumer {
  private messages: ConsumerMessages | undefined;
  private queue: JsMsg[] = [];
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private running = false;

  constructor(
    private readonly deps: UsageConsumerDependencies,
    private readonly settings: UsageConsumerSettings = DEFAULT_USAGE_CONSUMER_SETTINGS,
  ) {}

  get name(): string {
    return this.settings.name;
  }

  async start(): Promise<void> {
    await this.ensureConsumer();
    const consumer = await this.deps.js.consumers.get(this.deps.topology.usageStream, this.name);
    this.running = true;
    this.messages = await consumer.consume({
      max_messages: this.settings.batchesPerIngest * 2,
      callback: (message) => {
        this.queue.push(message);
        this.wake?.();
      },
    });
    this.loop = this.run();
  }

  /** Stops pulling and finishes the ingest in progress; what is unacked is redelivered later. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.messages?.close();
    await this.loop;
  }

  /**
   * The usage watermark: every batch that reached the usage stream before the instant returned
   * (epoch ms) has been stored, so a ledger read started after this call sees it. That is `now`
   * when JetStream holds nothing pending or unacknowledged for the consumer, else the stream
   * time of the first message past the ack floor (every message below the floor was stored
   * before it was acked). Undefined when that message cannot be read (removed by the stream's
   * age limit before it was stored): then nobody can tell what is missing.
   */
  async ingestedUntil(now: () => number = Date.now): Promise<number | undefined> {
    const asked = now();
    const info = await this.deps.jsm.consumers.info(this.deps.topology.usageStream, this.name);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return asked;
    const next = await this.deps.jsm.streams.getMessage(this.deps.topology.usageStream, { seq: info.ack_floor.stream_seq + 1 });
    return next ? Math.min(asked, next.time.getTime()) : undefined;
  }

  /** What JetStream still holds for the auditor. */
  async backlog(): Promise<ConsumerBacklog> {
    const info = await this.deps.jsm.consumers.info(this.deps.topology.usageStream, this.name);
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const taken = this.queue.splice(0, this.settings.batchesPerIngest);
      await this.handle(taken);
    }
  }

  /** Stores the valid batches among these messages in one ingest, then acks them; exposed for tests. */
  async handle(messages: readonly JsMsg[]): Promise<void> {
    const valid: { message: JsMsg; batch: UsageBatch }[] = [];
    for (const message of messages) {
      const batch = decode(message);
      if (typeof batch === 'string') await this.deadLetter(message, batch);
      else valid.push({ message, batch });
    }
    if (valid.length === 0) return;
    // The same batch can arrive twice in one pull (a redelivery overtaking): store it once.
    const unique = [...new Map(valid.map(({ batch }) => [batch.batchId, batch])).values()];
    try {
      const result = await this.deps.ledger.ingest(unique);
      if (result.duplicates > 0) this.deps.logger.info({ consumer: this.name, duplicates: result.duplicateIds }, 'usage batches stored before were skipped');
      const duplicates = new Set(result.duplicateIds);
      const seen = new Set<string>();
      for (const { message, batch } of valid) {
        message.ack();
        const first = !duplicates.has(batch.batchId) && !seen.has(batch.batchId);
        seen.add(batch.batchId);
        this.deps.onDelivery?.({
          consumer: this.name,
          outcome: first ? 'applied' : 'duplicate',
          deliveryCount: message.info.deliveryCount,
          occurredAt: new Date(batch.createdAt).toISOString(),
        });
      }
    } catch (error) {
      for (const { message, batch } of valid) {
        const delay = redeliveryDelay(this.settings.redelivery, message.info.deliveryCount);
        message.nak(delay);
        this.deps.onDelivery?.({
          consumer: this.name,
          outcome: 'retry-scheduled',
          deliveryCount: message.info.deliveryCount,
          occurredAt: new Date(batch.createdAt).toISOString(),
        });
      }
      this.deps.logger.warn({ err: error, consumer: this.name, batches: valid.length }, 'storing usage failed; the batches will be redelivered');
    }
  }

  private async deadLetter(message: JsMsg, reason: string): Promise<void> {
    const h = headers();
    h.set(MESSAGE_HEADERS.deadLetterReason, reason.slice(0, 1000));
    h.set(MESSAGE_HEADERS.deadLetterConsumer, this.name);
    h.set(MESSAGE_HEADERS.deadLetterDeliveries, String(message.info.deliveryCount));
    try {
      await this.deps.js.publish(deadLetterSubject(this.deps.topology.subjectPrefix, this.name), message.data, {
        headers: h,
        msgID: `${this.name}:${message.info.streamSequence}`,
      });
    } catch (error) {
      this.deps.logger.error({ err: error, consumer: this.name }, 'dead-letter publish failed; the message will be redelivered');
      message.nak(redeliveryDelay(this.settings.redelivery, message.info.deliveryCount));
      return;
    }
    this.deps.logger.error({ consumer: this.name, reason, streamSequence: message.info.streamSequence }, 'usage message dead-lettered');
    // No reason on the term: NATS 2.9 ignores `+TERM <reason>` (see DurableEventConsumer).
    message.term();
    this.deps.onDelivery?.({ consumer: this.name, outcome: 'dead-lettered', deliveryCount: message.info.deliveryCount, occurredAt: undefined });
  }

  private async ensureConsumer(): Promise<void> {
    const config = {
      durable_name: this.name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: this.deps.topology.usageSubjects,
      max_deliver: -1,
      max_ack_pending: this.settings.batchesPerIngest * 2,
      ack_wait: nanos(this.settings.ackWaitMs),
    };
    try {
      await this.deps.jsm.consumers.info(this.deps.topology.usageStream, this.name);
      await this.deps.jsm.consumers.update(this.deps.topology.usageStream, this.name, {
        max_deliver: config.max_deliver,
        max_ack_pending: config.max_ack_pending,
        ack_wait: config.ack_wait,
        filter_subject: config.filter_subject,
      });
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === 10014)) throw error;
      await this.deps.jsm.consumers.add(this.deps.topology.usageStream, config);
    }
  }
}

/** The batch a message carries, or why it is not one. */
function decode(message: JsMsg): UsageBatch | string {
  let json: unknown;
  try {
    json = message.json();
  } catch (error) {
    return `usage message is not JSON: ${(error as Error).message}`;
  }
  const parsed = usageBatchSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  return `usage message is not a valid batch: ${parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.')} ${issue.message}`)
    .join('; ')}`;
}
