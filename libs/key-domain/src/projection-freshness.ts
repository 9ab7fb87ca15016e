/**
 * Whether a projection is current, judged from the data: the relay leader announces, every
 * second or so, the store's head position and the time it read it (a sealed heartbeat). A
 * projection that has applied every event up to a head announced at `t` knows the store as it
 * was at `t`; it is fresh while the newest such `t` is at most `maxStalenessMs` old.
 *
 * Time. A heartbeat is dated by the relay's clock; it counts from the earlier of that date and
 * when it arrived here (our clock). So a heartbeat that waited in a client's buffer through a
 * disconnect, or one replayed by a stranger, is only worth the moment it was sent, never the
 * moment it arrived; and a relay whose clock runs ahead of ours can make us look fresher by
 * at most `MAX_HEARTBEAT_CLOCK_LEAD_MS`: a heartbeat dated further ahead of our clock is not
 * believed at all (a clock that far off fails closed rather than extend the bound). A relay
 * clock running behind only makes us look staler than we are, which fails closed too.
 */

/** A relay clock may run this far ahead of ours; a heartbeat dated later than that after its arrival is ignored. */
export const MAX_HEARTBEAT_CLOCK_LEAD_MS = 1000;

/** Heartbeats waiting for their head to be applied, at most (one a second is sent; the oldest go first). */
const MAX_WAITING_HEARTBEATS = 64;

/** The instant a heartbeat vouches for (epoch ms), or undefined when it is dated too far ahead of its arrival to be believed. */
export function heartbeatInstant(sentAt: number, receivedAt: number, maxLeadMs = MAX_HEARTBEAT_CLOCK_LEAD_MS): number | undefined {
  if (sentAt > receivedAt + maxLeadMs) return undefined;
  return Math.min(sentAt, receivedAt);
}

/** How old the state is (ms) given the instant it is known fresh as of; infinite when never. */
export function stalenessAt(freshAsOf: number | undefined, now: number): number {
  return freshAsOf === undefined ? Number.POSITIVE_INFINITY : Math.max(0, now - freshAsOf);
}

/** THE rule: a projection may answer while the store it has applied is at most `maxStalenessMs` old. */
export function isFresh(freshAsOf: number | undefined, now: number, maxStalenessMs: number): boolean {
  return stalenessAt(freshAsOf, now) <= maxStalenessMs;
}

/** What a heartbeat did to a tracker. */
export type HeartbeatOutcome = 'reached' | 'waiting' | 'ignored-clock';

/**
 * The state behind `isFresh` for one projection: the instant it is known fresh as of, and the
 * heartbeats whose head it has not applied yet (each becomes its freshness once it does).
 * Positions are compared by `compare` (the store's order), so this stays free of the store.
 */
export class FreshnessTracker<P> {
  private freshAsOf: number | undefined;
  /** Heads not yet applied, in head order, each with its instant. */
  private waiting: { readonly head: P; readonly instant: number; readonly receivedAt: number }[] = [];

  constructor(
    private readonly compare: (a: P, b: P) => number,
    private readonly maxStalenessMs: number,
  ) {}

  /** A heartbeat arrived (its seal already checked) while `applied` is the newest position applied. */
  heard(head: P, sentAt: number, receivedAt: number, applied: P): HeartbeatOutcome {
    const instant = heartbeatInstant(sentAt, receivedAt);
    if (instant === undefined) return 'ignored-clock';
    if (this.compare(head, applied) <= 0) {
      this.vouch(instant);
      return 'reached';
    }
    // One too old to ever make us fresh is not worth keeping (a replay, or the backlog after an outage).
    this.waiting = this.waiting.filter((entry) => entry.instant >= receivedAt - this.maxStalenessMs);
    if (instant < receivedAt - this.maxStalenessMs) return 'waiting';
    const at = this.waiting.findIndex((entry) => this.compare(entry.head, head) > 0);
    this.waiting.splice(at === -1 ? this.waiting.length : at, 0, { head, instant, receivedAt });
    if (this.waiting.length > MAX_WAITING_HEARTBEATS) this.waiting.splice(0, this.waiting.length - MAX_WAITING_HEARTBEATS);
    return 'waiting';
  }

  /** The projection has applied everything up to `position`. */
  applied(position: P): void {
    let reached = 0;
    while (reached < this.waiting.length && this.compare(this.waiting[reached]!.head, position) <= 0) {
      this.vouch(this.waiting[reached]!.instant);
      reached += 1;
    }
    if (reached > 0) this.waiting.splice(0, reached);
  }

  isFresh(now: number): boolean {
    return isFresh(this.freshAsOf, now, this.maxStalenessMs);
  }

  stalenessMs(now: number): number {
    return stalenessAt(this.freshAsOf, now);
  }

  /**
   * Since when (our clock) a head announced has been waiting to be applied: how long the
   * projection has known it is behind. Undefined when it is not behind any heartbeat.
   */
  behindSince(): number | undefined {
    return this.waiting.length === 0 ? undefined : Math.min(...this.waiting.map((entry) => entry.receivedAt));
  }

  private vouch(instant: number): void {
    if (this.freshAsOf === undefined || instant > this.freshAsOf) this.freshAsOf = instant;
  }
}
