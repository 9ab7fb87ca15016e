import { DeliverPolicy } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { GlobalPosition } from '@keyledger/contracts';
import { relayHeartbeatSubject, verifierAppliedSubject } from '@keyledger/contracts';
import type { BusTopology, Consumption } from '@keyledger/event-bus';
import { ConsumptionKeeper, EventMessageReader, RelayHeartbeatReader } from '@keyledger/event-bus';
import { FreshnessTracker } from '@keyledger/key-domain';
import type { EventAuthentication } from '@keyledger/event-auth';
import type { EventPage, EventPayload, PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG, compareGlobalPositions } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { DataSource } from 'typeorm';
import type { Pepper } from '@keyledger/key-secrets';
import { SnapshotSeal } from '@keyledger/key-secrets';
import type { KeyIndex } from './key-index.js';
import { KEY_INDEX_SNAPSHOT_FORMAT, decodeKeyIndex, encodeKeyIndex } from './key-index-snapshot.js';
import { ProjectionSnapshotStore } from './projection-snapshot-store.js';
import { encodeAnnouncement } from './verifier-fence.js';
import { StoreCatchUp } from './store-catch-up.js';
import type { ProcessTick } from '@keyledger/timers';
import { everyTick } from '@keyledger/timers';

/** What a key projection folds: the keys' own streams, and the consumption verifiers flush to theirs. */
export const KEY_PROJECTION_CATEGORIES = ['key', 'credits'] as const;

/** The name key projections share in the snapshot store: every replica folds the same index. */
export const KEY_PROJECTION_SNAPSHOT = 'keys';

/**
 * Snapshot settings for a key projection, or undefined when `everyEvents` is 0 (off):
 * snapshots are stored in Postgres and sealed with a key derived from the current pepper.
 */
export function keyProjectionSnapshotting(
  db: DataSource,
  peppers: readonly Pepper[],
  everyEvents: number,
  checkEveryMs: number,
): ProjectionSnapshotting | undefined {
  if (everyEvents === 0) return undefined;
  return { store: new ProjectionSnapshotStore(db), seal: new SnapshotSeal(peppers), everyEvents, checkEveryMs };
}

/** Start from a snapshot, and take a new one once enough has changed since. */
export interface ProjectionSnapshotting {
  readonly store: ProjectionSnapshotStore;
  readonly seal: SnapshotSeal;
  /** A new snapshot is taken once this many events were applied beyond the stored one. */
  readonly everyEvents: number;
  /** How often a running replica considers taking one. */
  readonly checkEveryMs: number;
}

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
  /**
   * Judge freshness from the relay's heartbeats: with `failClosed`, answer nothing (fail closed,
   * not ready) unless every event up to a head the relay announced at most this long ago is
   * applied. Undefined: not judged (no heartbeat is listened to).
   */
  readonly maxStalenessMs?: number | undefined;
  /**
   * How often to measure how many store events this replica has not applied (`behindStore`, a
   * count in Postgres), at heartbeat ticks. Skipped while the relay's heartbeats show it has
   * applied the store's head of a moment ago (behind: 0), so an idle replica asks Postgres
   * nothing. Undefined: only when `measureLag` is called.
   */
  readonly lagProbeMs?: number | undefined;
}

/**
 * Behind a heartbeat this long with nothing arriving from JetStream, the consumer is opened
 * again: whatever the client missed, the data says events are waiting. Later reopenings for the
 * same silence wait twice as long each time (up to 30 s), so a relay that cannot publish does not
 * make every replica reopen its consumer every second.
 */
const STALL_REOPEN_MS = 1500;
const MAX_STALL_REOPEN_MS = 30_000;

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
  /** Messages are read through an EventMessageReader with it; refused ones are reported and skipped. */
  readonly auth: EventAuthentication;
  readonly clock?: () => number;
  readonly snapshots?: ProjectionSnapshotting | undefined;
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
  /** Whether the start began from a stored snapshot rather than the first event. */
  readonly startedFromSnapshot: boolean;
  /** The position of an event this replica could not apply: it has stopped there and fails closed. */
  readonly stalledAt: GlobalPosition | undefined;
  /**
   * How old the store state applied is, by the relay's heartbeats (ms); null before the first
   * head applied; undefined when freshness is not judged.
   */
  readonly stalenessMs: number | null | undefined;
  /** How many times the JetStream consumer was opened again (NATS reconnects, stalls). */
  readonly consumerReopened: number;
}

/**
 * Keeps a KeyIndex current: a full catch-up from the event store at start, then every new
 * event from JetStream through an ordered consumer that starts where the store read began,
 * skipping what the catch-up already applied. The hot path (verify) only reads memory.
 */
export class LiveKeyProjection {
  private position: GlobalPosition = START_OF_LOG;
  private loaded = false;
  private startedFromSnapshot = false;
  private stalledAt: GlobalPosition | undefined;
  private keeper: ConsumptionKeeper | undefined;
  /** The stream sequence of the newest message received: a reopened consumer starts after it. */
  private streamSequence = 0;
  private lastDeliveryAt = 0;
  private lastStallReopenAt = 0;
  private stallReopenMs = STALL_REOPEN_MS;
  private readonly freshness: FreshnessTracker<GlobalPosition> | undefined;
  private heartbeats: Subscription | undefined;
  private clockWarnedAt = 0;
  private heartbeat: ProcessTick | undefined;
  private lastAnnounced = 0;
  private pendingAnnounce: NodeJS.Timeout | undefined;
  private disconnectedAt: number | undefined;
  private behindStore: number | undefined;
  private lastLagProbe = 0;
  private lagProbe: Promise<unknown> | undefined;
  private readonly clock: () => number;
  private stopping = false;
  /** Key events applied beyond the newest stored snapshot (as far as this replica knows). */
  private appliedSinceSnapshot = 0;
  private snapshotTimer: ProcessTick | undefined;
  private snapshotting: Promise<void> | undefined;
  private readonly reader: EventMessageReader;
  private readonly storeCatchUp: StoreCatchUp;

  constructor(
    private readonly deps: LiveKeyProjectionDependencies,
    private readonly settings: LiveKeyProjectionSettings,
  ) {
    this.clock = deps.clock ?? Date.now;
    this.reader = new EventMessageReader(deps.topology.subjectPrefix, deps.auth);
    this.freshness = settings.maxStalenessMs === undefined ? undefined : new FreshnessTracker(compareGlobalPositions, settings.maxStalenessMs);
    this.storeCatchUp = new StoreCatchUp(
      () => deps.store.heartbeatHead(),
      () => this.position,
    );
  }

  async start(): Promise<void> {
    const { jsm, topology, index, logger, store, nc } = this.deps;
    // Heard from before the catch-up: a head it reaches makes this replica fresh as soon as it is loaded.
    this.listenForHeartbeats();
    const streamSequence = (await jsm.streams.info(topology.eventStream)).state.last_seq;
    const started = this.clock();
    const fromSnapshot = await this.restoreSnapshot();
    this.startedFromSnapshot = fromSnapshot;
    const head = await store.headPosition();
    const replayed = await this.catchUp();
    // The catch-up read every event up to the head read before it (of every category, though it
    // applied only its own): this replica knows the store up to there, whatever the last key event.
    if (head && compareGlobalPositions(head, this.position) > 0) this.advance(head);
    this.loaded = true;
    this.appliedSinceSnapshot = replayed;
    logger.info({ keys: index.size, ms: this.clock() - started, position: this.position, fromSnapshot, replayed }, 'key projection loaded');
    // Everything up to streamSequence was committed before the read above began, so it was
    // read; later messages are applied unless the catch-up already saw them.
    this.streamSequence = streamSequence;
    this.keeper = new ConsumptionKeeper(nc, 'key-projection', logger, () => this.openConsumption());
    await this.keeper.start();
    void this.watchConnection();
    this.heartbeat = everyTick(this.settings.heartbeatMs, () => {
      this.announce();
      this.reopenIfStalled();
      this.probeLagIfDue();
    });
    this.announce();
    const snapshots = this.deps.snapshots;
    if (snapshots) {
      this.snapshotTimer = everyTick(snapshots.checkEveryMs, () => this.snapshotIfDue());
      this.snapshotIfDue();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.heartbeat?.stop();
    this.snapshotTimer?.stop();
    clearTimeout(this.pendingAnnounce);
    this.heartbeats?.unsubscribe();
    this.storeCatchUp.stop();
    await this.keeper?.stop();
    await this.snapshotting;
    await this.lagProbe;
  }

  /**
   * Saves a snapshot of the index now (when one is configured), unless the stored one is
   * as recent; returns whether it stored one. Runs beside verification: encoding is one
   * pass over the columns, the write goes to Postgres asynchronously.
   */
  async takeSnapshot(): Promise<boolean> {
    const snapshots = this.deps.snapshots;
    if (!snapshots || !this.loaded) return false;
    const position = this.position;
    const applied = this.appliedSinceSnapshot;
    const body = encodeKeyIndex(this.deps.index);
    const seal = snapshots.seal.seal(body, snapshotContext(KEY_INDEX_SNAPSHOT_FORMAT, position));
    const stored = await snapshots.store.save(KEY_PROJECTION_SNAPSHOT, { format: KEY_INDEX_SNAPSHOT_FORMAT, position, seal, body });
    this.appliedSinceSnapshot = Math.max(0, this.appliedSinceSnapshot - applied);
    if (stored) this.deps.logger.info({ keys: this.deps.index.size, bytes: body.length, position }, 'key projection snapshot stored');
    return stored;
  }

  private snapshotIfDue(): void {
    const snapshots = this.deps.snapshots;
    if (!snapshots || this.snapshotting || this.stopping || this.appliedSinceSnapshot < snapshots.everyEvents) return;
    this.snapshotting = this.takeSnapshot()
      .then(() => undefined)
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not store a key projection snapshot; the next start replays more events'))
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  /** Loads the stored snapshot into the (empty) index; false when there is none to trust. */
  private async restoreSnapshot(): Promise<boolean> {
    const snapshots = this.deps.snapshots;
    if (!snapshots) return false;
    const { logger } = this.deps;
    let snapshot;
    try {
      snapshot = await snapshots.store.load(KEY_PROJECTION_SNAPSHOT);
    } catch (error) {
      logger.warn({ err: error }, 'could not read the key projection snapshot; replaying the event store');
      return false;
    }
    if (!snapshot) return false;
    if (snapshot.format !== KEY_INDEX_SNAPSHOT_FORMAT) {
      logger.info({ format: snapshot.format }, 'key projection snapshot has another format; replaying the event store');
      return false;
    }
    if (!snapshots.seal.verify(snapshot.body, snapshotContext(snapshot.format, snapshot.position), snapshot.seal)) {
      // Either the pepper changed since it was taken, or the row was edited: never load it.
      logger.warn({ pepperVersion: snapshot.seal.pepperVersion }, 'key projection snapshot seal does not match; replaying the event store');
      return false;
    }
    // A snapshot from beyond the store's end (a store restored to an earlier point) would skip
    // events the store will hold again: it is not this store's.
    const head = await this.deps.store.headPosition();
    if (!head || compareGlobalPositions(snapshot.position, head) > 0) {
      logger.warn({ snapshot: snapshot.position, head }, 'key projection snapshot is ahead of the event store; replaying the event store');
      return false;
    }
    decodeKeyIndex(snapshot.body, this.deps.index);
    this.position = snapshot.position;
    return true;
  }

  /**
   * Applies every key event after the current position, reading the next batch while the
   * current one is applied so Postgres and this process work at the same time. Returns
   * the number of events that changed the index.
   */
  private async catchUp(): Promise<number> {
    const { store, index } = this.deps;
    const batchSize = this.settings.catchUpBatchSize;
    let applied = 0;
    let next: Promise<EventPage<EventPayload> | undefined> = store.readPayloads(this.position, batchSize, KEY_PROJECTION_CATEGORIES);
    for (;;) {
      const page = await next;
      // Refused rows (reported by the store) are passed over: the page ends after them.
      if (!page?.end) return applied;
      const end = page.end;
      // A short batch reached the end of what was committed; later events come from JetStream.
      next = page.rows < batchSize ? Promise.resolve(undefined) : store.readPayloads(end, batchSize, KEY_PROJECTION_CATEGORIES);
      // Surfaced by the await above on the next turn; this only keeps it from being reported as unhandled meanwhile.
      next.catch(() => undefined);
      for (const event of page.events) if (index.apply(event)) applied += 1;
      this.advance(end);
    }
  }

  /** The newest store position applied (cheaper than status(), for the verify path). */
  appliedPosition(): GlobalPosition {
    return this.position;
  }

  /**
   * Waits until this replica has applied every event the store had committed when called: a key
   * issued a moment ago, known to the store but not yet published to this replica, is then
   * judged as it is. False when that could not be done within `timeoutMs`.
   */
  caughtUpWithStore(timeoutMs: number): Promise<boolean> {
    return this.storeCatchUp.caughtUp(timeoutMs);
  }

  /**
   * True when verification must refuse every key: before the projection has caught up with the
   * store, after it stalled on an event, or once the bus has been gone too long.
   */
  isFailingClosed(now = this.clock()): boolean {
    // Until the catch-up is done the index misses keys and revocations alike: a NOT_FOUND or a
    // VALID from it would be a guess (a start from an old snapshot still holds revoked keys).
    if (!this.loaded) return true;
    // A replica stuck before an event it cannot apply would miss every revocation after it.
    if (this.stalledAt) return true;
    if (!this.settings.failClosed) return false;
    // Not shown by the data to know the store of a moment ago: it may miss a revocation.
    if (this.freshness && !this.freshness.isFresh(now)) return true;
    return this.busSilentFor(now) > this.settings.maxBusSilenceMs;
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
      startedFromSnapshot: this.startedFromSnapshot,
      stalledAt: this.stalledAt,
      stalenessMs: this.freshness && (Number.isFinite(this.freshness.stalenessMs(now)) ? this.freshness.stalenessMs(now) : null),
      consumerReopened: this.keeper?.reopened ?? 0,
    };
  }

  /** The projection's readiness check: loaded and not failing closed, with its status as details. */
  readiness(): { healthy: boolean; details: Record<string, unknown> } {
    const status = this.status();
    return { healthy: status.loaded && !status.failingClosed, details: { ...status } };
  }

  /** Measures how far the store is ahead of this replica; runs off the verify path. */
  async measureLag(): Promise<number> {
    this.behindStore = await this.deps.store.countAfter(this.position, 10_000);
    return this.behindStore;
  }

  private probeLagIfDue(): void {
    const every = this.settings.lagProbeMs;
    const now = this.clock();
    if (every === undefined || this.lagProbe || this.stopping || now - this.lastLagProbe < every) return;
    this.lastLagProbe = now;
    // A head the relay read within the probe period is applied, and none since is waiting: the
    // count would be 0 as of then, so Postgres need not be asked.
    const freshness = this.freshness;
    if (freshness && freshness.behindSince() === undefined && freshness.stalenessMs(now) <= every) {
      this.behindStore = 0;
      return;
    }
    this.lagProbe = this.measureLag()
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not measure the lag behind the store'))
      .finally(() => {
        this.lagProbe = undefined;
      });
  }

  private busSilentFor(now: number): number {
    if (this.deps.nc.isClosed()) return Number.POSITIVE_INFINITY;
    return this.disconnectedAt === undefined ? 0 : now - this.disconnectedAt;
  }

  private applyMessage(payload: Uint8Array, subject: string): void {
    // Not authentic, not valid, or not an event: reported by the reader and skipped; only what
    // the relay sealed can move this replica (and its position).
    const event = this.reader.read(payload, subject);
    if (!event) return;
    if (this.stalledAt || compareGlobalPositions(event, this.position) <= 0) return;
    try {
      if (this.deps.index.apply(event)) this.appliedSinceSnapshot += 1;
    } catch (error) {
      // Skipping it would leave this replica wrong for good (a skipped revocation verifies):
      // stop here, refuse every key, report not ready; a restart replays from the store.
      this.stalledAt = { transactionId: event.transactionId, position: event.position };
      this.deps.logger.error(
        { err: error, eventId: event.eventId, type: event.type, position: this.stalledAt },
        'cannot apply an event; the key projection stops and fails closed',
      );
      return;
    }
    this.advance(event);
    this.announceSoon();
  }

  private advance(event: GlobalPosition): void {
    this.position = { transactionId: event.transactionId, position: event.position };
    this.freshness?.applied(this.position);
    this.storeCatchUp.advanced(this.position);
  }

  /**
   * Tails the event stream from after the newest message received, through an ordered consumer
   * (the ConsumptionKeeper opens it again after NATS faults, from where this one stopped).
   */
  private async openConsumption(): Promise<Consumption> {
    const { js, topology } = this.deps;
    const consumer = await js.consumers.get(topology.eventStream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.streamSequence + 1 });
    const messages = await consumer.consume();
    const handled = (async () => {
      for await (const message of messages) {
        this.lastDeliveryAt = this.clock();
        this.stallReopenMs = STALL_REOPEN_MS;
        if (message.seq > this.streamSequence) this.streamSequence = message.seq;
        this.applyMessage(message.data, message.subject);
      }
    })();
    return { messages, handled };
  }

  /** Sealed heartbeats of the relay leader feed the freshness judged; a forged one is refused (and reported) by the reader. */
  private listenForHeartbeats(): void {
    const freshness = this.freshness;
    if (!freshness) return;
    const reader = new RelayHeartbeatReader(this.deps.auth);
    this.heartbeats = this.deps.nc.subscribe(relayHeartbeatSubject(this.deps.topology.subjectPrefix), {
      callback: (error, message) => {
        if (error) return;
        const heartbeat = reader.read(message.data, message.subject);
        if (!heartbeat) return;
        const now = this.clock();
        if (freshness.heard(heartbeat.head, heartbeat.sentAt, now, this.position) === 'ignored-clock' && now - this.clockWarnedAt > 60_000) {
          this.clockWarnedAt = now;
          this.deps.logger.warn(
            { sentAt: new Date(heartbeat.sentAt).toISOString(), leadMs: heartbeat.sentAt - now },
            "the relay's heartbeat is dated ahead of this clock by more than the allowed skew; it is not believed (check the clocks)",
          );
        }
      },
    });
  }

  /** Behind a head the relay announced, with nothing arriving: the consumer is deaf, whatever the client thinks. */
  private reopenIfStalled(): void {
    const since = this.freshness?.behindSince();
    const keeper = this.keeper;
    if (since === undefined || !keeper || this.stopping) return;
    const now = this.clock();
    const quietSince = Math.max(since, this.lastDeliveryAt, this.lastStallReopenAt);
    if (now - quietSince < this.stallReopenMs) return;
    this.lastStallReopenAt = now;
    keeper.reopen(`behind the relay's heartbeat for ${now - since} ms with nothing arriving`);
    this.stallReopenMs = Math.min(MAX_STALL_REOPEN_MS, this.stallReopenMs * 2);
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
    const body = encodeAnnouncement(this.deps.auth.authenticator, this.settings.instanceId, this.position, new Date(this.lastAnnounced));
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

/** What a snapshot's seal covers besides its bytes: a sealed body cannot be stored beside another position. */
export function snapshotContext(format: number, position: GlobalPosition): string {
  return JSON.stringify({ projection: KEY_PROJECTION_SNAPSHOT, format, transactionId: position.transactionId, position: position.position });
}
