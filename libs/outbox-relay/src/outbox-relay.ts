import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient, JetStreamManager, PubAck } from '@nats-io/jetstream';
import type { EventEnvelope, GlobalPosition } from '@keyledger/contracts';
import { MESSAGE_HEADERS } from '@keyledger/contracts';
import type { BusTopology } from '@keyledger/event-bus';
import { encodeEventMessage } from '@keyledger/event-bus';
import type { PostgresEventStore } from '@keyledger/event-store';
import { EVENTS_CHANNEL } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { LeaderLock } from './leader-lock.js';
import type { RelayCheckpointStore } from './relay-checkpoint.js';
import { laterOf } from './relay-checkpoint.js';

export interface OutboxRelaySettings {
  /** Events read and published per round trip. */
  readonly batchSize: number;
  /** Fallback wake-up when no notification arrives (a notification wakes it at once). */
  readonly pollIntervalMs: number;
  /** How often a standby tries to take over the lock. */
  readonly standbyRetryMs: number;
  readonly publishTimeoutMs: number;
  /** Pause after a failed round before trying again. */
  readonly retryDelayMs: number;
}

export const DEFAULT_RELAY_SETTINGS: OutboxRelaySettings = {
  batchSize: 500,
  pollIntervalMs: 250,
  standbyRetryMs: 1000,
  publishTimeoutMs: 5000,
  retryDelayMs: 500,
};

export interface OutboxRelayDependencies {
  readonly store: PostgresEventStore;
  readonly checkpoints: RelayCheckpointStore;
  readonly lock: LeaderLock;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: BusTopology;
  readonly schema: string;
  readonly logger: Logger;
  /** Called as soon as a batch is acknowledged by JetStream; used by metrics and the lag benchmark. */
  readonly onPublished?: (events: readonly EventEnvelope[]) => void;
}

export interface OutboxRelayStatus {
  readonly leader: boolean;
  readonly checkpoint: GlobalPosition | undefined;
  readonly publishedSinceStart: number;
}

/**
 * Publishes every committed event to JetStream, in store order, effectively once.
 *
 * - One relay leads at a time (Postgres advisory lock); the others wait to take over.
 * - Each message carries Nats-Msg-Id = event id, so a re-publish is dropped by JetStream.
 * - Within a batch, message n is published with "expected last msg id = event n-1": if a
 *   publish fails, every later one in flight fails too, so a retry cannot reorder the stream.
 * - The checkpoint is saved only after the acks; on start it is reconciled with the last
 *   message in the stream, so a relay killed between ack and save re-publishes nothing.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Set by a notification that arrives while busy, so the next idle returns at once. */
  private woken = false;
  private checkpoint: GlobalPosition | undefined;
  private published = 0;

  constructor(
    private readonly deps: OutboxRelayDependencies,
    private readonly settings: OutboxRelaySettings = DEFAULT_RELAY_SETTINGS,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.deps.lock.onNotification((payload) => {
      if (payload !== this.deps.schema) return;
      this.woken = true;
      this.wake?.();
    });
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.woken = true;
    this.wake?.();
    await this.loop;
    await this.deps.lock.release();
  }

  status(): OutboxRelayStatus {
    return { leader: this.deps.lock.isHeld, checkpoint: this.checkpoint, publishedSinceStart: this.published };
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (await this.deps.lock.tryAcquire(EVENTS_CHANNEL)) {
          this.deps.logger.info('relay is the leader');
          await this.lead();
        } else {
          await this.idle(this.settings.standbyRetryMs);
        }
      } catch (error) {
        this.deps.logger.error({ err: error }, 'relay round failed; retrying');
        await this.idle(this.settings.retryDelayMs);
      }
    }
  }

  private async lead(): Promise<void> {
    let position = laterOf(await this.deps.checkpoints.load(), await this.lastPublishedPosition());
    this.checkpoint = position;
    while (this.running && this.deps.lock.isHeld) {
      const events = await this.deps.store.readAll(position, this.settings.batchSize);
      if (events.length === 0) {
        await this.idle(this.settings.pollIntervalMs);
        continue;
      }
      const published = await this.publishInOrder(events);
      const last = published[published.length - 1];
      if (last) {
        this.deps.onPublished?.(published);
        await this.deps.checkpoints.save(last);
        position = { transactionId: last.transactionId, position: last.position };
        this.checkpoint = position;
        this.published += published.length;
      }
      if (published.length < events.length) await this.idle(this.settings.retryDelayMs);
    }
  }

  /** Publishes a batch pipelined and returns the acknowledged prefix. */
  private async publishInOrder(events: readonly EventEnvelope[]): Promise<EventEnvelope[]> {
    const acks = events.map((event, index) => {
      const message = encodeEventMessage(this.deps.topology.subjectPrefix, event);
      const previous = events[index - 1];
      return this.deps.js.publish(message.subject, message.payload, {
        msgID: message.msgId,
        headers: message.headers,
        timeout: this.settings.publishTimeoutMs,
        ...(previous ? { expect: { lastMsgID: previous.eventId } } : {}),
      });
    });
    const results = await Promise.allSettled<PubAck>(acks);
    const firstFailure = results.findIndex((result) => result.status === 'rejected');
    if (firstFailure === -1) return [...events];
    const failure = results[firstFailure] as PromiseRejectedResult;
    this.deps.logger.warn(
      { err: failure.reason, eventId: events[firstFailure]?.eventId, acknowledged: firstFailure },
      'publish failed; will retry from this event',
    );
    return events.slice(0, firstFailure);
  }

  /** The position of the newest message already in the stream, from its headers. */
  private async lastPublishedPosition(): Promise<GlobalPosition> {
    const info = await this.deps.jsm.streams.info(this.deps.topology.eventStream);
    if (info.state.last_seq === 0 || info.state.messages === 0) return { transactionId: '0', position: '0' };
    const message = await this.deps.jsm.streams.getMessage(this.deps.topology.eventStream, { seq: info.state.last_seq });
    const transactionId = message?.header.get(MESSAGE_HEADERS.transactionId);
    const position = message?.header.get(MESSAGE_HEADERS.position);
    if (!transactionId || !position)
      throw new Error(`message ${info.state.last_seq} of ${this.deps.topology.eventStream} lacks position headers; was it published by a relay?`);
    return { transactionId, position };
  }

  /** Sleeps until woken by a notification, stop(), or the timeout. */
  private async idle(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const controller = new AbortController();
    this.wake = () => controller.abort();
    try {
      await sleep(ms, undefined, { signal: controller.signal });
    } catch (error) {
      if (!controller.signal.aborted) throw error;
      // Aborted means woken early by a notification or stop(): exactly what we wait for.
    } finally {
      this.wake = undefined;
      this.woken = false;
    }
  }
}
