import type { NatsConnection } from '@nats-io/transport-node';
import type { GlobalPosition } from '@keyledger/contracts';
import { relayHeartbeatSubject } from '@keyledger/contracts';
import type { BusTopology } from '@keyledger/event-bus';
import { encodeRelayHeartbeat } from '@keyledger/event-bus';
import type { EventAuthentication } from '@keyledger/event-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';

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

/** How soon a beat held back by an older transaction is tried again, and how many times within one beat. */
const HELD_BACK_RETRY_MS = 50;
const HELD_BACK_ATTEMPTS = 4;

/** A hold this long (beats in a row without a heartbeat) is worth a warning: projections are turning stale. */
const HELD_BACK_WARN_BEATS = 3;

/**
 * Publishes, while this relay leads, the store's newest authentic position and the time just
 * before it was read, sealed, on `<prefix>.v1.relay.heartbeat` (core NATS: in no stream). Key
 * projections judge from it whether they are current (libs/key-domain projection-freshness):
 * one that has applied that head knows the store as it was at that time. No heartbeat goes out
 * while the store cannot be read, so a relay that cannot see the store vouches for nothing.
 *
 * Nor while an older transaction still running holds back events already committed after it
 * (readers stop at the oldest running transaction, so a late commit is never skipped): the head
 * below it is not the store as it is, and a projection that applied it would answer VALID for
 * a key revoked a moment ago. The beat is tried again shortly; if the hold lasts, projections
 * turn stale and fail closed until it ends.
 */
export class RelayHeartbeatPublisher {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private failing = false;
  /** Beats in a row that found the head held back. */
  private heldBack = 0;
  private readonly clock: () => number;

  constructor(
    private readonly deps: RelayHeartbeatDependencies,
    private readonly intervalMs = RELAY_HEARTBEAT_MS,
  ) {
    this.clock = deps.clock ?? Date.now;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.beat(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
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

  /** Beats in a row that found the head held back by an older transaction. */
  heldBackBeats(): number {
    return this.heldBack;
  }

  private async announceHead(): Promise<void> {
    const { nc, store, topology, auth, logger } = this.deps;
    for (let attempt = 1; attempt <= HELD_BACK_ATTEMPTS; attempt += 1) {
      // Dated before the read: with nothing held back, every event committed before this instant is at or below the head read.
      const at = this.clock();
      const read = await store.heartbeatHead();
      if (!read) return;
      this.deps.onHead?.(read.head);
      if (!read.heldBack) {
        if (this.heldBack >= HELD_BACK_WARN_BEATS) logger.info({ beats: this.heldBack }, 'the store head is no longer held back; relay heartbeats resumed');
        this.heldBack = 0;
        nc.publish(relayHeartbeatSubject(topology.subjectPrefix), encodeRelayHeartbeat(auth.authenticator, read.head, new Date(at)));
        return;
      }
      if (attempt < HELD_BACK_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, HELD_BACK_RETRY_MS));
    }
    this.heldBack += 1;
    if (this.heldBack === HELD_BACK_WARN_BEATS)
      logger.warn(
        { beats: this.heldBack },
        'an older transaction still running holds back events committed after it; no relay heartbeat until it ends (key projections will turn stale)',
      );
  }
}
