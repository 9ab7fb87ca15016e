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
  readonly store: Pick<PostgresEventStore, 'authenticHeadPosition'>;
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

/**
 * Publishes, while this relay leads, the store's newest authentic position and the time just
 * before it was read, sealed, on `<prefix>.v1.relay.heartbeat` (core NATS: in no stream). Key
 * projections judge from it whether they are current (libs/key-domain projection-freshness):
 * one that has applied that head knows the store as it was at that time. No heartbeat goes out
 * while the store cannot be read, so a relay that cannot see the store vouches for nothing.
 */
export class RelayHeartbeatPublisher {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private failing = false;
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
    const { nc, store, topology, auth, logger, isLeader } = this.deps;
    if (this.inFlight || !isLeader() || nc.isClosed()) return;
    this.inFlight = true;
    try {
      // Dated before the read: every event committed before this instant is at or below the head read.
      const at = this.clock();
      const head = await store.authenticHeadPosition();
      if (!head) return;
      this.deps.onHead?.(head);
      nc.publish(relayHeartbeatSubject(topology.subjectPrefix), encodeRelayHeartbeat(auth.authenticator, head, new Date(at)));
      if (this.failing) logger.info('relay heartbeats resumed');
      this.failing = false;
    } catch (error) {
      if (!this.failing) logger.warn({ err: error }, 'cannot read the store head; no relay heartbeat until it answers (key projections will turn stale)');
      this.failing = true;
    } finally {
      this.inFlight = false;
    }
  }
}
