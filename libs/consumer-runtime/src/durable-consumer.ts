import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { BusTopology, Consumption } from '@keyledger/event-bus';
import { ConsumptionKeeper, startDeliverySpan } from '@keyledger/event-bus';
import type { Logger } from '@keyledger/observability';
import { markFailed } from '@keyledger/observability';
import { deadLetter } from './dead-letter.js';
import type { DeadLetterTarget } from './dead-letter.js';
import type { BatchHandler, BatchMode, ConsumerMode, MessageHandler } from './consumer-mode.js';
import { ensureDurableConsumer } from './ensure-durable-consumer.js';
import type { RedeliveryPolicy } from './redelivery-policy.js';
import { isLastDelivery, redeliveryDelay } from './redelivery-policy.js';

export type DeliveryOutcome = 'applied' | 'duplicate' | 'retry-scheduled' | 'dead-lettered' | 'rejected';

/** One delivery as the consumer handled it. */
export interface HandledDelivery {
  readonly consumer: string;
  readonly outcome: DeliveryOutcome;
  /** 1 for the first delivery; more is a redelivery. */
  readonly deliveryCount: number;
  /** When what the message carries happened (an event's `occurredAt`), when it could be decoded. */
  readonly occurredAt: string | undefined;
}

/** Messages of a consumer not yet applied, as JetStream counts them. */
export interface ConsumerBacklog {
  /** Not yet delivered. */
  readonly pending: number;
  /** Delivered, not yet acknowledged (in a handler, or waiting for a redelivery). */
  readonly ackPending: number;
}

export interface DurableConsumerDependencies {
  /** Its reconnects reopen the consumption (ConsumptionKeeper). */
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Its subject prefix names the dead-letter subject. */
  readonly topology: BusTopology;
  readonly logger: Logger;
  /** Told about every delivery once handled; `consumerMetrics(registry).onDelivery` counts them. */
  readonly onDelivery?: (delivery: HandledDelivery) => void;
}

/** Where a durable consumer reads. */
export interface ConsumerSource {
  /** The JetStream durable's name; also the dead-letter subject's last token and the metrics label. */
  readonly name: string;
  readonly stream: string;
  readonly filterSubject: string;
  /** Where the durable starts when it is first made: the stream's first message (default) or what comes after. */
  readonly startAt?: 'first' | 'new';
}

/** Settings both modes share. */
export interface ConsumerSettings {
  readonly redelivery: RedeliveryPolicy;
  /** How long JetStream waits for an ack before it redelivers (a crashed handler). */
  readonly ackWaitMs: number;
}

/** What a message decoded to: an item (undefined: refused as not authentic), or the error that makes it a dead letter. */
type Decoded<T> = { readonly item: T | undefined } | { readonly error: unknown };

/**
 * A durable JetStream pull consumer with explicit acks, in one of two modes.
 *
 * Single-message mode: each message is decoded and handled on its own (as a CONSUMER span
 * continuing the trace in its headers), then acked. A failure is nak'ed with the policy's
 * backoff; on the last allowed delivery it is dead-lettered.
 *
 * Batch mode: whatever has arrived (up to `maxMessages`, waiting up to `maxWaitMs` for more)
 * is decoded (as it arrives and given to `receive`, for a handler that has one), handed to
 * `store` in one call, then acked. A failed `store` naks the batch with
 * backoff and is retried without limit: the failure is the store's (a database outage), not
 * a message's, so nothing is dropped for it. A crash before the ack redelivers the messages
 * after ack_wait, and `store` recognises their ids.
 *
 * In both modes a message that does not decode is dead-lettered at once (`deadLetter`), so
 * one poison message never blocks the stream; the server's `max_deliver` is unlimited. A
 * message the decoder refuses as not authentic is acknowledged and skipped (`rejected`).
 *
 * Pulling resumes at once after a NATS fault (a reconnect, missed idle heartbeats): a
 * ConsumptionKeeper opens the durable again; the server resumes it from its ack floor.
 */
export class DurableConsumer<T> {
  private keeper: ConsumptionKeeper | undefined;
  private loop: Promise<void> | undefined;
  private readonly outcomes = new Map<DeliveryOutcome, number>();
  /** Batch mode: messages received and not yet handed to `store`. */
  private queue: JsMsg[] = [];
  /** Batch mode: what the messages of the filling batch decoded to, as they arrived. */
  private readonly decoded = new Map<JsMsg, Decoded<T>>();
  private wake: (() => void) | undefined;
  private running = false;

  constructor(
    private readonly deps: DurableConsumerDependencies,
    private readonly source: ConsumerSource,
    private readonly mode: ConsumerMode<T>,
    private readonly settings: ConsumerSettings,
  ) {}

  get name(): string {
    return this.source.name;
  }

  /** Counts of delivery outcomes since start, for health and metrics. */
  counts(): Readonly<Record<DeliveryOutcome, number>> {
    const count = (outcome: DeliveryOutcome): number => this.outcomes.get(outcome) ?? 0;
    return {
      applied: count('applied'),
      duplicate: count('duplicate'),
      'retry-scheduled': count('retry-scheduled'),
      'dead-lettered': count('dead-lettered'),
      rejected: count('rejected'),
    };
  }

  async start(): Promise<void> {
    const { mode } = this;
    // Batch mode bounds what it buffers on the server's side too.
    const maxAckPending = mode.kind === 'batch' ? mode.maxMessages * 2 : undefined;
    await ensureDurableConsumer(this.deps.jsm, { ...this.source, ackWaitMs: this.settings.ackWaitMs, maxAckPending });
    this.running = true;
    this.keeper = new ConsumptionKeeper(this.deps.nc, this.name, this.deps.logger, () => this.openConsumption());
    await this.keeper.start();
    if (mode.kind === 'batch') this.loop = this.runBatches(mode);
  }

  /**
   * Stops pulling and finishes the handling in progress, including the messages delivered to a
   * batch still filling: left unacked, JetStream would hold them back for the whole ack wait,
   * longer than a restart takes (and a nak may send them back to this consumer's own pull
   * request, which the server keeps until it expires). With `abandon` (batch mode: another
   * instance takes over, and this one must not store), the batch still filling is nak'ed instead
   * (back at once, or after the ack wait when the server hands it to that request) and the
   * handler's `abandon` called.
   */
  async stop(options: { readonly abandon?: boolean } = {}): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.keeper?.stop();
    await this.loop;
    const { mode } = this;
    if (mode.kind !== 'batch') return;
    if (options.abandon) {
      // Another instance takes over: what this one holds goes back to the stream now, not stored.
      for (const message of this.queue.splice(0)) message.nak();
      this.decoded.clear();
      mode.handler.abandon?.();
      return;
    }
    while (this.queue.length > 0) await this.handleBatch(mode.handler, this.queue.splice(0, mode.maxMessages));
  }

  /** Pulls from the durable: each message handled in turn (single mode), or queued for the batch loop. */
  private async openConsumption(): Promise<Consumption> {
    const { mode } = this;
    const consumer = await this.deps.js.consumers.get(this.source.stream, this.name);
    if (mode.kind === 'single') {
      const messages = await consumer.consume({ max_messages: mode.prefetch });
      const handled = (async () => {
        for await (const message of messages) await this.handle(message);
      })();
      return { messages, handled };
    }
    const messages = await consumer.consume({
      max_messages: mode.maxMessages * 2,
      callback: (message) => {
        this.queue.push(message);
        // A batch that waits to fill is woken when it is full (or its time is up), not by each
        // message, unless the handler receives each item as it arrives.
        if (mode.maxWaitMs === 0 || mode.handler.receive || this.queue.length === 1 || this.queue.length >= mode.maxMessages) this.wake?.();
      },
    });
    return { messages, handled: messages.closed() };
  }

  /** What JetStream still holds for this consumer: its lag in messages. */
  async backlog(): Promise<ConsumerBacklog> {
    const info = await this.deps.jsm.consumers.info(this.source.stream, this.name);
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  /**
   * The consumer's watermark: every message that reached the stream before the instant
   * returned (epoch ms) has been handled, so a read started after this call sees it. That is
   * `now` when JetStream holds nothing pending or unacknowledged for the consumer, else the
   * stream time of the first message past the ack floor (every message below the floor was
   * handled before it was acked). Undefined when that message cannot be read (removed by the
   * stream's age limit before it was handled): then nobody can tell what is missing.
   */
  async ingestedUntil(now: () => number = Date.now): Promise<number | undefined> {
    const asked = now();
    const info = await this.deps.jsm.consumers.info(this.source.stream, this.name);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return asked;
    const next = await this.deps.jsm.streams.getMessage(this.source.stream, { seq: info.ack_floor.stream_seq + 1 });
    return next ? Math.min(asked, next.time.getTime()) : undefined;
  }

  /** Handles one delivery outside the pull loop (in batch mode, as a batch of one); exposed so tests can drive failure paths. */
  async handle(message: JsMsg): Promise<DeliveryOutcome> {
    if (this.mode.kind === 'batch') return (await this.handleBatch(this.mode.handler, [message]))[0]!;
    const { handler } = this.mode;
    const span = startDeliverySpan(this.name, message);
    try {
      const { outcome, occurredAt } = await context.with(trace.setSpan(context.active(), span), () => this.process(handler, message));
      span.setAttribute('keyledger.delivery.outcome', outcome);
      if (outcome === 'dead-lettered') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      this.report(message, outcome, occurredAt);
      return outcome;
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  private async process(handler: MessageHandler<T>, message: JsMsg): Promise<{ outcome: DeliveryOutcome; occurredAt: string | undefined }> {
    let item: T | undefined;
    try {
      item = handler.decode(message.data, message.subject, message.headers);
    } catch (error) {
      return { outcome: await deadLetter(this.deadLetterTarget(), message, error), occurredAt: undefined };
    }
    if (item === undefined) {
      message.ack();
      return { outcome: 'rejected', occurredAt: undefined };
    }
    const occurredAt = handler.occurredAt(item);
    try {
      const applied = await handler.handle(item);
      message.ack();
      return { outcome: applied ? 'applied' : 'duplicate', occurredAt };
    } catch (error) {
      const delivery = message.info.deliveryCount;
      if (isLastDelivery(this.settings.redelivery, delivery)) return { outcome: await deadLetter(this.deadLetterTarget(), message, error), occurredAt };
      const delay = redeliveryDelay(this.settings.redelivery, delivery);
      this.deps.logger.warn({ err: error, consumer: this.name, id: handler.id(item), delivery, retryInMs: delay }, 'handler failed; will redeliver');
      message.nak(delay);
      return { outcome: 'retry-scheduled', occurredAt };
    }
  }

  private async runBatches(mode: BatchMode<T>): Promise<void> {
    const { maxMessages, maxWaitMs } = mode;
    while (this.running) {
      if (this.queue.length === 0) {
        await this.arrival();
        continue;
      }
      const deadline = Date.now() + maxWaitMs;
      for (;;) {
        if (!this.running) break;
        // Decoded on arrival only for a handler that receives: an item held decoded through the
        // wait outlives the young generation, and its collection costs more than its decoding.
        if (mode.handler.receive) await this.admitArrived(mode);
        if (!this.running || this.queue.length >= maxMessages || Date.now() >= deadline) break;
        // Messages that came while `receive` ran woke nobody: admit them before waiting again.
        if (mode.handler.receive && Math.min(this.queue.length, maxMessages) > this.decoded.size) continue;
        await this.arrival(deadline - Date.now());
      }
      if (!this.running) break;
      await this.handleBatch(mode.handler, this.queue.splice(0, maxMessages));
    }
  }

  /**
   * Decodes the messages of the filling batch not decoded yet and hands each item to the
   * handler's `receive`, so the batch's wait delays only `store` and the acks.
   */
  private async admitArrived({ handler, maxMessages }: BatchMode<T>): Promise<void> {
    const end = Math.min(this.queue.length, maxMessages);
    const arrived: T[] = [];
    for (let index = 0; index < end; index += 1) {
      const message = this.queue[index]!;
      if (this.decoded.has(message)) continue;
      const decoded = this.decodeMessage(handler, message);
      this.decoded.set(message, decoded);
      if ('item' in decoded && decoded.item !== undefined) arrived.push(decoded.item);
    }
    if (handler.receive === undefined || arrived.length === 0) return;
    try {
      await handler.receive(arrived);
    } catch (error) {
      // The handler's store fails the batch; this one is only told.
      this.deps.logger.error({ err: error, consumer: this.name }, 'receiving items failed');
    }
  }

  private decodeMessage(handler: BatchHandler<T>, message: JsMsg): Decoded<T> {
    try {
      return { item: handler.decode(message.data, message.subject, message.headers) };
    } catch (error) {
      return { error };
    }
  }

  /** Resolves when a message arrives (or the batch is full, or the consumer stops), or after `timeoutMs`. */
  private arrival(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.wake?.(), timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** Stores the items of these messages in one call and acks them; dead-letters those that do not decode. */
  private async handleBatch(handler: BatchHandler<T>, messages: readonly JsMsg[]): Promise<DeliveryOutcome[]> {
    const outcomes = new Map<JsMsg, DeliveryOutcome>();
    const valid: { message: JsMsg; item: T; id: string }[] = [];
    for (const message of messages) {
      const decoded = this.decoded.get(message) ?? this.decodeMessage(handler, message);
      this.decoded.delete(message);
      if ('error' in decoded) {
        const outcome = await deadLetter(this.deadLetterTarget(), message, decoded.error);
        this.report(message, outcome, undefined);
        outcomes.set(message, outcome);
        continue;
      }
      const { item } = decoded;
      if (item === undefined) {
        message.ack();
        this.report(message, 'rejected', undefined);
        outcomes.set(message, 'rejected');
        continue;
      }
      valid.push({ message, item, id: handler.id(item) });
    }
    if (valid.length > 0) {
      // The same item can arrive twice in one pull (a redelivery overtaking): store it once.
      const unique = [...new Map(valid.map(({ item, id }) => [id, item])).values()];
      try {
        const { duplicateIds } = await handler.store(unique);
        if (duplicateIds.length > 0) this.deps.logger.info({ consumer: this.name, duplicates: duplicateIds }, 'items stored before were skipped');
        const seen = new Set<string>(duplicateIds);
        for (const { message, item, id } of valid) {
          message.ack();
          const outcome = seen.has(id) ? 'duplicate' : 'applied';
          seen.add(id);
          this.report(message, outcome, handler.occurredAt(item));
          outcomes.set(message, outcome);
        }
      } catch (error) {
        for (const { message, item } of valid) {
          message.nak(redeliveryDelay(this.settings.redelivery, message.info.deliveryCount));
          this.report(message, 'retry-scheduled', handler.occurredAt(item));
          outcomes.set(message, 'retry-scheduled');
        }
        this.deps.logger.warn({ err: error, consumer: this.name, messages: valid.length }, 'storing a batch failed; its messages will be redelivered');
      }
    }
    return messages.map((message) => outcomes.get(message)!);
  }

  private report(message: JsMsg, outcome: DeliveryOutcome, occurredAt: string | undefined): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    this.deps.onDelivery?.({ consumer: this.name, outcome, deliveryCount: message.info.deliveryCount, occurredAt });
  }

  private deadLetterTarget(): DeadLetterTarget {
    const { js, topology, logger } = this.deps;
    return { js, subjectPrefix: topology.subjectPrefix, consumer: this.name, logger, redelivery: this.settings.redelivery };
  }
}
