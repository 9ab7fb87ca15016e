import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import { AckPolicy, DeliverPolicy, JetStreamApiError } from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import { MESSAGE_HEADERS, deadLetterSubject, eventSubjectFilter } from '@keyledger/contracts';
import type { BusTopology } from '@keyledger/event-bus';
import { decodeEventMessage, startDeliverySpan } from '@keyledger/event-bus';
import type { Logger } from '@keyledger/observability';
import { markFailed } from '@keyledger/observability';
import { applyOnce } from './inbox.js';
import type { Projection } from './projection.js';
import type { RedeliveryPolicy } from './redelivery-policy.js';
import { DEFAULT_REDELIVERY_POLICY, isLastDelivery, redeliveryDelay } from './redelivery-policy.js';

export interface DurableEventConsumerDependencies {
  readonly dataSource: DataSource;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: BusTopology;
  readonly projection: Projection;
  readonly logger: Logger;
  /** Told about every delivery once handled; `consumerMetrics(registry).onDelivery` counts them. */
  readonly onDelivery?: (delivery: HandledDelivery) => void;
}

/** One delivery as the consumer handled it. */
export interface HandledDelivery {
  readonly consumer: string;
  readonly outcome: DeliveryOutcome;
  /** 1 for the first delivery; more is a redelivery. */
  readonly deliveryCount: number;
  /** The event's `occurredAt`, when the message was a valid event. */
  readonly occurredAt: string | undefined;
}

/** Messages of a consumer not yet applied, as JetStream counts them. */
export interface ConsumerBacklog {
  /** Not yet delivered. */
  readonly pending: number;
  /** Delivered, not yet acknowledged (in a handler, or waiting for a redelivery). */
  readonly ackPending: number;
}

export interface DurableEventConsumerSettings {
  readonly redelivery: RedeliveryPolicy;
  /** How long JetStream waits for an ack before it redelivers (a crashed handler). */
  readonly ackWaitMs: number;
  /** Messages buffered from the server at once. */
  readonly prefetch: number;
}

export const DEFAULT_CONSUMER_SETTINGS: DurableEventConsumerSettings = { redelivery: DEFAULT_REDELIVERY_POLICY, ackWaitMs: 30_000, prefetch: 64 };

export type DeliveryOutcome = 'applied' | 'duplicate' | 'retry-scheduled' | 'dead-lettered';

/**
 * Feeds a projection from a durable JetStream pull consumer with explicit acks.
 *
 * Each message is applied in one Postgres transaction with its inbox row, then acked. A
 * failure is nak'ed with a backoff delay; on the last allowed delivery (or when the message
 * is not a valid event at all) it is published to the dead-letter subject and terminated,
 * so one poison message never blocks the stream.
 */
export class DurableEventConsumer {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly outcomes = new Map<DeliveryOutcome, number>();

  constructor(
    private readonly deps: DurableEventConsumerDependencies,
    private readonly settings: DurableEventConsumerSettings = DEFAULT_CONSUMER_SETTINGS,
  ) {}

  get name(): string {
    return this.deps.projection.name;
  }

  /** Counts of delivery outcomes since start, for health and metrics. */
  counts(): Readonly<Record<DeliveryOutcome, number>> {
    const count = (outcome: DeliveryOutcome): number => this.outcomes.get(outcome) ?? 0;
    return { applied: count('applied'), duplicate: count('duplicate'), 'retry-scheduled': count('retry-scheduled'), 'dead-lettered': count('dead-lettered') };
  }

  async start(): Promise<void> {
    await this.ensureConsumer();
    const consumer = await this.deps.js.consumers.get(this.deps.topology.eventStream, this.name);
    this.messages = await consumer.consume({ max_messages: this.settings.prefetch });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const message of messages) await this.handle(message);
    })();
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loop;
  }

  /** What JetStream still holds for this consumer: the projection's lag in messages. */
  async backlog(): Promise<ConsumerBacklog> {
    const info = await this.deps.jsm.consumers.info(this.deps.topology.eventStream, this.name);
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  /**
   * Handles one delivery; exposed so tests can drive failure paths deterministically. The
   * handling is a CONSUMER span continuing the trace in the message's headers.
   */
  async handle(message: JsMsg): Promise<DeliveryOutcome> {
    const span = startDeliverySpan(this.name, message);
    try {
      const { outcome, occurredAt } = await context.with(trace.setSpan(context.active(), span), () => this.process(message));
      span.setAttribute('keyledger.delivery.outcome', outcome);
      if (outcome === 'dead-lettered') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
      this.deps.onDelivery?.({ consumer: this.name, outcome, deliveryCount: message.info.deliveryCount, occurredAt });
      return outcome;
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  private async process(message: JsMsg): Promise<{ outcome: DeliveryOutcome; occurredAt: string | undefined }> {
    let event;
    try {
      event = decodeEventMessage(message.data);
    } catch (error) {
      return { outcome: await this.deadLetter(message, error), occurredAt: undefined };
    }
    const { occurredAt } = event;
    try {
      const applied = await this.deps.dataSource.transaction((manager) => applyOnce(manager, this.deps.projection, event));
      message.ack();
      return { outcome: applied ? 'applied' : 'duplicate', occurredAt };
    } catch (error) {
      const delivery = message.info.deliveryCount;
      if (isLastDelivery(this.settings.redelivery, delivery)) return { outcome: await this.deadLetter(message, error), occurredAt };
      const delay = redeliveryDelay(this.settings.redelivery, delivery);
      this.deps.logger.warn({ err: error, consumer: this.name, eventId: event.eventId, delivery, retryInMs: delay }, 'handler failed; will redeliver');
      message.nak(delay);
      return { outcome: 'retry-scheduled', occurredAt };
    }
  }

  private async deadLetter(message: JsMsg, error: unknown): Promise<DeliveryOutcome> {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const h = headers();
    for (const [key, values] of message.headers ?? []) values.forEach((value) => h.append(key, value));
    h.set(MESSAGE_HEADERS.deadLetterReason, reason.slice(0, 1000));
    h.set(MESSAGE_HEADERS.deadLetterConsumer, this.name);
    h.set(MESSAGE_HEADERS.deadLetterDeliveries, String(message.info.deliveryCount));
    // The original Nats-Msg-Id would be deduplicated against the event itself; a dead
    // letter is its own message, identified by consumer and stream sequence.
    h.delete(MESSAGE_HEADERS.msgId);
    try {
      await this.deps.js.publish(deadLetterSubject(this.deps.topology.subjectPrefix, this.name), message.data, {
        headers: h,
        msgID: `${this.name}:${message.info.streamSequence}`,
      });
    } catch (publishError) {
      // Without a dead letter stored, terminating would lose the message: retry it instead.
      this.deps.logger.error({ err: publishError, consumer: this.name }, 'dead-letter publish failed; message will be redelivered');
      message.nak(redeliveryDelay(this.settings.redelivery, message.info.deliveryCount));
      return 'retry-scheduled';
    }
    this.deps.logger.error({ consumer: this.name, reason, streamSequence: message.info.streamSequence }, 'message dead-lettered');
    // No reason on the term: NATS before 2.10.4 ignores `+TERM <reason>` and would redeliver
    // the message after ack_wait, forever. The reason travels in the dead letter's headers.
    message.term();
    return 'dead-lettered';
  }

  private async ensureConsumer(): Promise<void> {
    const config = {
      durable_name: this.name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: eventSubjectFilter(this.deps.topology.subjectPrefix, this.deps.projection.category),
      // Unlimited on the server: the runtime alone decides when to dead-letter, so a message
      // whose dead-letter publish failed is redelivered instead of silently dropped.
      max_deliver: -1,
      ack_wait: nanos(this.settings.ackWaitMs),
    };
    try {
      await this.deps.jsm.consumers.info(this.deps.topology.eventStream, this.name);
      await this.deps.jsm.consumers.update(this.deps.topology.eventStream, this.name, {
        max_deliver: config.max_deliver,
        ack_wait: config.ack_wait,
        filter_subject: config.filter_subject,
      });
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === 10014)) throw error;
      await this.deps.jsm.consumers.add(this.deps.topology.eventStream, config);
    }
  }
}
