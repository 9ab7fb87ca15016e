import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind, trace } from '@opentelemetry/api';
import type { JetStreamClient, JetStreamManager, PubAck } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventEnvelope, GlobalPosition } from '@keyledger/contracts';
import { MESSAGE_HEADERS } from '@keyledger/contracts';
import type { BusTopology } from '@keyledger/event-bus';
import { EventMessageReader, encodeEventMessage, injectTraceContext } from '@keyledger/event-bus';
import type { EventAuthentication } from '@keyledger/event-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import { EVENTS_CHANNEL, START_OF_LOG, compareGlobalPositions } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import { contextFromTraceFields, markFailed, tracer } from '@keyledger/observability';
import type { RelayLease } from './relay-lease.js';
import type { RelayCheckpointStore } from './relay-checkpoint.js';
import { atNextTick } from '@keyledger/timers';

export interface OutboxRelaySettings {
  /** Events read and published per round trip. */
  readonly batchSize: number;
  /**
   * How soon to read again while committed events wait behind an older transaction still
   * running: their commits have notified already, and nothing will notify again when the
   * older one ends.
   */
  readonly pollIntervalMs: number;
  /**
   * How often an idle leader checks the store's head for events it was not told of (a NOTIFY
   * lost with the listening session), unless `noteStoreHead` reported the head meanwhile;
   * also how soon an idle leader notices that its lease ran out.
   */
  readonly headCheckMs: number;
  /** How often a standby tries to take over the lease. */
  readonly standbyRetryMs: number;
  readonly publishTimeoutMs: number;
  /** Pause after a failed round before trying again. */
  readonly retryDelayMs: number;
}

export const DEFAULT_RELAY_SETTINGS: OutboxRelaySettings = {
  batchSize: 500,
  pollIntervalMs: 250,
  headCheckMs: 1000,
  standbyRetryMs: 1000,
  publishTimeoutMs: 5000,
  retryDelayMs: 500,
};

export interface OutboxRelayDependencies {
  readonly store: PostgresEventStore;
  readonly checkpoints: RelayCheckpointStore;
  readonly lock: RelayLease;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The connection `js` publishes on: a reconnect abandons the publishes in flight. */
  readonly nc: NatsConnection;
  readonly topology: BusTopology;
  readonly schema: string;
  readonly logger: Logger;
  /** Seals what it publishes; the store it reads from has checked each event's stored MAC. */
  readonly auth: EventAuthentication;
  /** Called as soon as a batch is acknowledged by JetStream; used by metrics and the lag benchmark. */
  readonly onPublished?: (events: readonly EventEnvelope[]) => void;
}

export interface OutboxRelayStatus {
  readonly leader: boolean;
  /** The epoch of the lease this relay leads under, when it leads. */
  readonly leaseEpoch: string | undefined;
  readonly checkpoint: GlobalPosition | undefined;
  readonly publishedSinceStart: number;
  /** Rounds in a row that failed; a relay stuck on one event reports it here. */
  readonly consecutiveFailures: number;
}

/**
 * Publishes every committed event to JetStream, in store order, effectively once.
 *
 * - One relay leads at a time, under a lease it keeps renewing (RelayLease); the others take
 *   over when it dies or stops renewing.
 * - Each message carries Nats-Msg-Id = event id, so a re-publish is dropped by JetStream.
 * - The first message of a batch is published against the stream's last sequence as this
 *   relay knows it, message n with "expected last msg id = event n-1": if anyone else put a
 *   message in the stream meanwhile (a new leader, while this one was frozen), the batch
 *   fails, and a failed publish sends the relay back to read where to resume from the stream.
 *   So a deposed leader cannot append old events after newer ones, and a retry cannot reorder.
 * - The checkpoint is saved only after the acks, for monitoring; a new leader resumes after
 *   the last message in the stream itself, so a relay killed between ack and save
 *   re-publishes nothing, and events the stream lost are published again.
 * - Only authentic events leave: the store's read refuses a row whose MAC fails (and reports
 *   it), the relay moves past it, and seals each message it publishes with its position.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  /** Ends the current idle: any on stop(), only a wait for work when something is due. */
  private interrupt: { readonly forWork: boolean; readonly end: () => void } | undefined;
  /** Something may be readable that is not published yet: set by a notification, a head seen ahead, or a page read; the next idle returns at once. */
  private due = false;
  /** In lead(): only a leader is woken by notifications (a standby would only try the lease again). */
  private leading = false;
  /** Where the leader reads next (past refused rows too); compared with the heads seen. */
  private readPosition: GlobalPosition | undefined;
  /** When a head was last reported by noteStoreHead (monotonic ms): the leader's own check is then not needed. */
  private headNotedAt = Number.NEGATIVE_INFINITY;
  private checkpoint: GlobalPosition | undefined;
  private published = 0;
  private consecutiveFailures = 0;
  private readonly reader: EventMessageReader;
  /** Ends the wait for the acks of the batch in flight; set while one is. */
  private abandonBatch: (() => void) | undefined;
  private statuses: { stop?: () => void } | undefined;

  constructor(
    private readonly deps: OutboxRelayDependencies,
    private readonly settings: OutboxRelaySettings = DEFAULT_RELAY_SETTINGS,
  ) {
    this.reader = new EventMessageReader(deps.topology.subjectPrefix, deps.auth);
    deps.lock.onNotification((payload) => {
      if (payload === deps.schema && this.leading) this.nudge();
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    void this.watchConnection();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.statuses?.stop?.();
    this.interrupt?.end();
    await this.loop;
    await this.deps.lock.release();
  }

  /**
   * Reports the store's newest readable position, read by someone else (the heartbeat reads it
   * every second): a leader that has not read that far reads at once, and skips its own check.
   */
  noteStoreHead(head: GlobalPosition): void {
    if (!this.leading) return;
    this.headNotedAt = performance.now();
    if (this.readPosition && compareGlobalPositions(head, this.readPosition) > 0) this.nudge();
  }

  status(): OutboxRelayStatus {
    return { leader: this.deps.lock.isHeld, leaseEpoch: this.deps.lock.heldEpoch, checkpoint: this.checkpoint, publishedSinceStart: this.published, consecutiveFailures: this.consecutiveFailures };
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (await this.deps.lock.tryAcquire(EVENTS_CHANNEL)) {
          this.deps.logger.info('relay is the leader');
          await this.lead();
        } else {
          await this.idle(this.settings.standbyRetryMs, { onTheTicks: true });
        }
      } catch (error) {
        this.consecutiveFailures += 1;
        this.deps.logger.error({ err: error, consecutiveFailures: this.consecutiveFailures }, 'relay round failed; retrying');
        await this.idle(this.settings.retryDelayMs);
      }
    }
  }

  /** Publishes while the lease holds; returns when it is lost or a publish failed, to resume from the stream. */
  private async lead(): Promise<void> {
    let { position, lastSequence } = await this.resumePosition();
    this.checkpoint = position;
    this.readPosition = position;
    this.leading = true;
    this.due = true;
    try {
      while (this.running && this.deps.lock.isHeld) {
        if (!this.due) {
          await this.idle(this.settings.headCheckMs, { forWork: true, onTheTicks: true });
          if (!this.due && this.running && this.deps.lock.isHeld) await this.checkHead(position);
          continue;
        }
        // Cleared before the read: a notification arriving during it asks for another.
        this.due = false;
        const { events, end } = await this.deps.store.readAll(position, this.settings.batchSize);
        if (!end) {
          if (await this.deps.store.hasCommittedAfter(position)) {
            await this.idle(this.settings.pollIntervalMs, { forWork: true });
            this.due = true;
          }
          continue;
        }
        // The read may have taken long (a stall, a slow database): lead only on a lease still held.
        if (!this.deps.lock.isHeld) return;
        const { published, sequence } = await this.publishInOrder(events, lastSequence);
        const last = published[published.length - 1];
        if (last) {
          this.deps.onPublished?.(published);
          await this.deps.checkpoints.save(last);
          position = { transactionId: last.transactionId, position: last.position };
          this.checkpoint = position;
          this.published += published.length;
        }
        if (published.length < events.length) {
          this.consecutiveFailures += 1;
          await this.idle(this.settings.retryDelayMs);
          return;
        }
        // Every event of the page is out: go on after its end, past any row the store refused.
        position = end;
        this.readPosition = end;
        lastSequence = sequence;
        this.consecutiveFailures = 0;
        // More may have come meanwhile; the read that finds nothing ends the round.
        this.due = true;
      }
      if (this.running) this.deps.logger.warn('relay lease no longer held; standing by');
    } finally {
      this.leading = false;
    }
  }

  /** The idle leader's own look for events it was not told of; skipped while the heartbeat reports heads. */
  private async checkHead(position: GlobalPosition): Promise<void> {
    // Twice the period: a heartbeat and a check of the same tick may run in either order, so the
    // head the check finds noted may be the previous beat's.
    if (performance.now() - this.headNotedAt < 2 * this.settings.headCheckMs) return;
    const head = await this.deps.store.headPosition();
    if (head && compareGlobalPositions(head, position) > 0) this.nudge();
  }

  private nudge(): void {
    this.due = true;
    if (this.interrupt?.forWork) this.interrupt.end();
  }

  /**
   * Publishes a batch pipelined and returns the acknowledged prefix. Each publish is a
   * PRODUCER span, child of the append recorded in the event's metadata; its context
   * replaces the metadata's in the message headers, so consumers are children of the publish.
   */
  private async publishInOrder(events: readonly EventEnvelope[], lastSequence: number): Promise<{ published: EventEnvelope[]; sequence: number }> {
    const acks = events.map((event, index) => {
      const message = encodeEventMessage(this.deps.topology.subjectPrefix, event, this.deps.auth.authenticator);
      const parent = contextFromTraceFields(event.metadata);
      const span = tracer.startSpan(
        `send ${message.subject}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'nats',
            'messaging.operation.type': 'send',
            'messaging.destination.name': message.subject,
            'messaging.message.id': message.msgId,
            'keyledger.event.type': event.type,
            'keyledger.stream.id': event.streamId,
            'keyledger.event.position': event.position,
          },
        },
        parent,
      );
      injectTraceContext(trace.setSpan(parent, span), message.headers);
      const previous = events[index - 1];
      const ack = this.deps.js.publish(message.subject, message.payload, {
        msgID: message.msgId,
        headers: message.headers,
        timeout: this.settings.publishTimeoutMs,
        expect: previous ? { lastMsgID: previous.eventId } : { lastSequence },
      });
      void ack.then(
        (acknowledged) => {
          span.setAttribute('keyledger.jetstream.sequence', acknowledged.seq);
          span.end();
        },
        (error: unknown) => {
          markFailed(span, error);
          span.end();
        },
      );
      return ack;
    });
    // The results so far, in order: a reconnect ends the wait before every ack is in.
    const results: PromiseSettledResult<PubAck>[] = [];
    acks.forEach((ack, index) => {
      void ack.then(
        (value) => void (results[index] = { status: 'fulfilled', value }),
        (reason: unknown) => void (results[index] = { status: 'rejected', reason }),
      );
    });
    const reconnected = new Promise<void>((resolve) => (this.abandonBatch = resolve));
    await Promise.race([Promise.allSettled(acks), reconnected]);
    this.abandonBatch = undefined;
    const abandoned = new Error('NATS reconnected before JetStream acknowledged the publish');
    for (let index = 0; index < acks.length; index += 1) results[index] ??= { status: 'rejected', reason: abandoned };
    const firstFailure = results.findIndex((result) => result.status === 'rejected');
    if (firstFailure === -1) {
      const last = results[results.length - 1] as PromiseFulfilledResult<PubAck> | undefined;
      return { published: [...events], sequence: last ? Math.max(last.value.seq, lastSequence) : lastSequence };
    }
    const failure = results[firstFailure] as PromiseRejectedResult;
    this.deps.logger.warn(
      { err: failure.reason, eventId: events[firstFailure]?.eventId, acknowledged: firstFailure },
      'publish failed; resuming from the stream',
    );
    return { published: events.slice(0, firstFailure), sequence: lastSequence };
  }

  /**
   * Where to resume: after the newest event already in the stream. The stream, not the
   * checkpoint, is the truth here: if JetStream lost acknowledged messages (a crash before
   * its flush) or the stream was recreated, the events it lacks are published again. Only a
   * message the relay sealed counts: a forged one with a far position (reported as refused)
   * cannot make a new leader skip events.
   */
  private async resumePosition(): Promise<{ position: GlobalPosition; lastSequence: number }> {
    const { eventStream } = this.deps.topology;
    const checkpoint = await this.deps.checkpoints.load();
    const info = await this.deps.jsm.streams.info(eventStream);
    const lastSequence = info.state.last_seq;
    // Scan back over anything not published by a relay (no position headers, or no valid seal).
    for (let seq = info.state.last_seq; seq >= Math.max(1, info.state.first_seq, info.state.last_seq - 100) && info.state.messages > 0; seq -= 1) {
      const message = await this.deps.jsm.streams.getMessage(eventStream, { seq }).catch(() => null);
      if (!message?.header.get(MESSAGE_HEADERS.position)) continue;
      const event = this.reader.read(message.data, message.subject);
      if (event) return { position: { transactionId: event.transactionId, position: event.position }, lastSequence };
    }
    if (compareGlobalPositions(checkpoint, START_OF_LOG) > 0) {
      this.deps.logger.warn(
        { checkpoint, stream: eventStream },
        'the event stream holds none of the published events; publishing the store again from the start',
      );
    }
    return { position: START_OF_LOG, lastSequence };
  }

  /**
   * A publish sent while NATS was away is flushed on the reconnect, often before the restarted
   * server's JetStream answers, and then never acknowledged: waiting out its timeout
   * (publishTimeoutMs, 5 s) kept every projection stale that long after NATS came back. So a
   * reconnect fails the batch in flight at once, and the relay resumes from the stream: what
   * did land is not published again, and the expected-last-id fence refuses a late arrival.
   */
  private async watchConnection(): Promise<void> {
    const statuses = this.deps.nc.status();
    this.statuses = statuses as { stop?: () => void };
    for await (const status of statuses) {
      if (!this.running) return;
      if (status.type === 'reconnect') this.abandonBatch?.();
    }
  }

  /**
   * Sleeps for `ms`, or until stop(); a wait for work also ends as soon as something is due.
   * `onTheTicks`: until the process's next tick of `ms` instead (libs/timers), the instant the
   * relay's other periodic work (heartbeat, lease) ticks, so an idle relay wakes once for all.
   */
  private async idle(ms: number, { forWork = false, onTheTicks = false } = {}): Promise<void> {
    if (!this.running || (forWork && this.due)) return;
    if (onTheTicks) {
      await new Promise<void>((resolve) => {
        const tick = atNextTick(ms, () => resolve());
        this.interrupt = {
          forWork,
          end: () => {
            tick.stop();
            resolve();
          },
        };
      });
      this.interrupt = undefined;
      return;
    }
    const controller = new AbortController();
    this.interrupt = { forWork, end: () => controller.abort() };
    try {
      await sleep(ms, undefined, { signal: controller.signal });
    } catch (error) {
      if (!controller.signal.aborted) throw error;
      // Aborted means ended early by stop() or by work to do: exactly what we wait for.
    } finally {
      this.interrupt = undefined;
    }
  }
}
