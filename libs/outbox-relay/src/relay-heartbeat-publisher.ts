import type { NatsConnection } from '@nats-io/transport-node';
import type { GlobalPosition } from '@keyledger/contracts';
import { relayHeartbeatSubject } from '@keyledger/contracts';
import type { BusTopology } from '@keyledger/event-bus';
import { encodeRelayHeartbeat } from '@keyledger/event-bus';
import type { EventAuthentication } from '@keyledger/event-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { HeadRead } from './heartbeat-dating.js';
import { vouchedInstant } from './heartbeat-dating.js';
import type { ProcessTick } from '@keyledger/timers';
import { everyTick } from '@keyledger/timers';

export interface RelayHeartbeatDependencies {
  readonly nc: NatsConnection;
  readonly store: Pick<PostgresEventStore, 'heartbeatHead'>;
  readonly topology: BusTopology;
  readonly auth: EventAuthentication;
  readonly logger: Logger;
  /** Only the leader speaks for the store: a standby's heartbeat would be true, but twice the traffic. */
  readonly isLeader: () => boolean;
  readonly clock?: () => number;
  /** Given each head read (the relay reads at once when it has not read that far, and needs no check of its own). */
  readonly onHead?: (head: GlobalPosition) => void;
}

/** How often the leader announces the store's head. */
export const RELAY_HEARTBEAT_MS = 1000;

/** Head reads remembered for dating a heartbeat while the head is held back (one a second: about a minute). */
const REMEMBERED_READS = 64;

/** A hold this long (beats in a row vouching for nothing newer) is worth a warning: projections are turning stale. */
const HELD_BACK_WARN_BEATS = 3;

/**
 * Publishes, while this relay leads, the store's newest authentic position and the instant it
 * vouches for (the time just before it was read, when nothing is held back), sealed, on `<prefix>.v1.relay.heartbeat` (core NATS: in no stream). Key
 * projections judge from it whether they are current (libs/key-domain projection-freshness):
 * one that has applied that head knows the store as it was at that time. No heartbeat goes out
 * while the store cannot be read, so a relay that cannot see the store vouches for nothing.
 *
 * Readers stop at the oldest transaction still running, so an event committed after it (a
 * revocation) is unreadable until it ends. While one waits so, the head read is not the store as
 * it is "now", and a projection that applied it would answer VALID for a key revoked a moment
 * ago: the heartbeat is then dated at an earlier read that everything now readable covers
 * (vouchedInstant), or not sent. A hold longer than the staleness bound turns projections stale,
 * and they fail closed until it ends.
 */
export class RelayHeartbeatPublisher {
  private timer: ProcessTick | undefined;
  private inFlight = false;
  private failing = false;
  /** Beats in a row that could vouch for no instant newer than the last one sent. */
  private heldBack = 0;
  private readonly reads: HeadRead[] = [];
  private lastVouched = Number.NEGATIVE_INFINITY;
  private readonly clock: () => number;

  constructor(
    private readonly deps: RelayHeartbeatDependencies,
    private readonly intervalMs = RELAY_HEARTBEAT_MS,
  ) {
    this.clock = deps.clock ?? Date.now;
  }

  start(): void {
    this.timer ??= everyTick(this.intervalMs, () => void this.beat());
  }

  stop(): void {
    this.timer?.stop();
    this.timer = undefined;
  }

  /** One heartbeat now, if this relay leads and the store answers; exposed for tests. */
  async beat(): Promise<void> {
    const { nc, isLeader, logger } = this.deps;
    if (this.inFlight || !isLeader() || nc.isClosed()) return;
    this.inFlight = true;
    try {
      await this.announceHead();
      if (this.failing) logger.info('relay heartbeats resumed');
      this.failing = false;
    } catch (error) {
      if (!this.failing) logger.warn({ err: error }, 'cannot read the store head; no relay heartbeat until it answers (key projections will turn stale)');
      this.failing = true;
    } finally {
      this.inFlight = false;
    }
  }

  /** Beats in a row that could vouch for nothing newer than the last heartbeat sent. */
  heldBackBeats(): number {
    return this.heldBack;
  }

  private async announceHead(): Promise<void> {
    const { nc, store, topology, auth, logger } = this.deps;
    // Taken before the read: everything committed before it is in the read's snapshot.
    const at = this.clock();
    const found = await store.heartbeatHead();
    if (!found) return;
    this.deps.onHead?.(found.head);
    const read: HeadRead = { at, heldBack: found.heldBack, horizon: found.horizon, snapshotEnd: found.snapshotEnd };
    const vouched = vouchedInstant(read, this.reads);
    this.reads.push(read);
    if (this.reads.length > REMEMBERED_READS) this.reads.shift();
    if (vouched === undefined || vouched <= this.lastVouched) {
      this.heldBack += 1;
      if (this.heldBack === HELD_BACK_WARN_BEATS)
        logger.warn(
          { beats: this.heldBack },
          'an older transaction still running holds back events committed after it; relay heartbeats vouch for nothing newer until it ends (key projections will turn stale)',
        );
      return;
    }
    if (this.heldBack >= HELD_BACK_WARN_BEATS) logger.info({ beats: this.heldBack }, 'the store head is no longer held back; relay heartbeats resumed');
    this.heldBack = 0;
    this.lastVouched = vouched;
    nc.publish(relayHeartbeatSubject(topology.subjectPrefix), encodeRelayHeartbeat(auth.authenticator, found.head, new Date(vouched)));
  }
}
