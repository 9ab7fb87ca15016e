import { DeliverPolicy } from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventEnvelope, GlobalPosition } from '@keyledger/contracts';
import { verifierAppliedSubject } from '@keyledger/contracts';
import type { BusTopology } from '@keyledger/event-bus';
import { decodeEventMessage } from '@keyledger/event-bus';
import type { PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG, compareGlobalPositions } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { KeyIndex } from './key-index.js';

export interface LiveKeyProjectionSettings {
  /** Identifies this replica in revocation fences. */
  readonly instanceId: string;
  /**
   * After this long without NATS, verification fails closed (when `failClosed` is set):
   * a verifier that cannot hear revocations must not keep approving keys.
   */
  readonly maxBusSilenceMs: number;
  readonly failClosed: boolean;
  /** How often the position is announced when nothing happens. */
  readonly heartbeatMs: number;
  readonly catchUpBatchSize: number;
  /** Whether this replica takes part in revocation fences (verifiers do; the issuer does not). */
  readonly announce: boolean;
}

export const DEFAULT_PROJECTION_SETTINGS: Omit<LiveKeyProjectionSettings, 'instanceId'> = {
  maxBusSilenceMs: 30_000,
  failClosed: true,
  heartbeatMs: 1000,
  catchUpBatchSize: 20_000,
  announce: true,
};

export interface LiveKeyProjectionDependencies {
  readonly index: KeyIndex;
  readonly store: PostgresEventStore;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: BusTopology;
  readonly logger: Logger;
  readonly clock?: () => number;
}

/** What a verifier knows about its own freshness. */
export interface ProjectionStatus {
  readonly loaded: boolean;
  readonly keys: number;
  readonly position: GlobalPosition;
  readonly busConnected: boolean;
  readonly busSilentForMs: number;
  readonly failingClosed: boolean;
  /** Events the store has that this replica has not applied (capped at 10,000). */
  readonly behindStore: number | undefined;
}

/**
 * Keeps a KeyIndex current: a full catch-up from the event store at start, then every new
 * event from JetStream through an ordered consumer that starts where the store read began,
 * skipping what the catch-up already applied. The hot path (verify) only reads memory.
 */
export class LiveKeyProjection {
  private position: GlobalPosition = START_OF_LOG;
  private loaded = false;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastAnnounced = 0;
  private pendingAnnounce: NodeJS.Timeout | undefined;
  private disconnectedAt: number | undefined;
  private behindStore: number | undefined;
  private readonly clock: () => number;
  private stopping = false;

  constructor(
    private readonly deps: LiveKeyProjectionDependencies,
    private readonly settings: LiveKeyProjectionSettings,
  ) {
    this.clock = deps.clock ?? Date.now;
  }

  async start(): Promise<void> {
    const { jsm, js, topology, store, index, logger } = this.deps;
    const streamSequence = (await jsm.streams.info(topology.eventStream)).state.last_seq;
    const started = this.clock();
    for (;;) {
      const events = await store.readPayloads(this.position, this.settings.catchUpBatchSize, 'key');
      if (events.length === 0) break;
      for (const event of events) index.apply(event);
      this.advance(events[events.length - 1]!);
    }
    this.loaded = true;
    logger.info({ keys: index.size, ms: this.clock() - started, position: this.position }, 'key projection loaded from the event store');
    // Everything up to streamSequence was committed before the read above began, so it was
    // read; later messages are applied unless the catch-up already saw them.
    const consumer = await js.consumers.get(topology.eventStream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: streamSequence + 1 });
    this.messages = await consumer.consume();
    const messages = this.messages;
    this.loop = (async () => {
      for await (const message of messages) this.applyMessage(message.data);
    })();
    void this.watchConnection();
    this.heartbeat = setInterval(() => this.announce(), this.settings.heartbeatMs);
    this.announce();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.pendingAnnounce);
    await this.messages?.close();
    await this.loop;
  }

  /** True when verification must refuse every key because the bus has been gone too long. */
  isFailingClosed(now = this.clock()): boolean {
    return this.settings.failClosed && this.busSilentFor(now) > this.settings.maxBusSilenceMs;
  }

  status(): ProjectionStatus {
    const now = this.clock();
    return {
      loaded: this.loaded,
      keys: this.deps.index.size,
      position: this.position,
      busConnected: this.disconnectedAt === undefined && !this.deps.nc.isClosed(),
      busSilentForMs: this.busSilentFor(now),
      failingClosed: this.isFailingClosed(now),
      behindStore: this.behindStore,
    };
  }

  /** Measures how far the store is ahead of this replica; runs off the verify path. */
  async measureLag(): Promise<number> {
    this.behindStore = await this.deps.store.countAfter(this.position, 10_000);
    return this.behindStore;
  }

  private busSilentFor(now: number): number {
    if (this.deps.nc.isClosed()) return Number.POSITIVE_INFINITY;
    return this.disconnectedAt === undefined ? 0 : now - this.disconnectedAt;
  }

  private applyMessage(payload: Uint8Array): void {
    let event: EventEnvelope;
    try {
      event = decodeEventMessage(payload);
    } catch (error) {
      // Only the relay publishes here; a bad message is logged and skipped, not fatal.
      this.deps.logger.error({ err: error }, 'ignoring a malformed event message');
      return;
    }
    if (compareGlobalPositions(event, this.position) <= 0) return;
    this.deps.index.apply(event);
    this.advance(event);
    this.announceSoon();
  }

  private advance(event: GlobalPosition): void {
    this.position = { transactionId: event.transactionId, position: event.position };
  }

  /** Announces the applied position at most every 5 ms under load, at once when idle. */
  private announceSoon(): void {
    if (this.pendingAnnounce) return;
    const wait = Math.max(0, this.lastAnnounced + 5 - this.clock());
    this.pendingAnnounce = setTimeout(() => {
      this.pendingAnnounce = undefined;
      this.announce();
    }, wait);
  }

  private announce(): void {
    if (!this.settings.announce || this.deps.nc.isClosed() || !this.loaded) return;
    this.lastAnnounced = this.clock();
    const body = JSON.stringify({ instance: this.settings.instanceId, ...this.position, at: new Date(this.lastAnnounced).toISOString() });
    this.deps.nc.publish(verifierAppliedSubject(this.deps.topology.subjectPrefix), body);
  }

  private async watchConnection(): Promise<void> {
    for await (const status of this.deps.nc.status()) {
      if (this.stopping) return;
      if (status.type === 'disconnect') {
        this.disconnectedAt ??= this.clock();
        this.deps.logger.warn('lost NATS; key projection may fall behind');
      } else if (status.type === 'reconnect') {
        this.disconnectedAt = undefined;
        this.deps.logger.info('NATS reconnected');
      }
    }
  }
}
