import { setTimeout as sleep } from 'node:timers/promises';
import type { GlobalPosition } from '@keyledger/contracts';
import type { HeartbeatHead } from '@keyledger/event-store';
import { compareGlobalPositions } from '@keyledger/event-store';

/** How long to wait before reading the head again while an older transaction holds committed events back. */
const HELD_BACK_RETRY_MS = 25;
/** Head reads start at least this far apart: a flood of unknown keys costs Postgres at most one read per gap. */
const MIN_READ_GAP_MS = 10;
/** A head read running longer is given up on (Postgres unreachable, a pool exhausted): later callers start another. */
const STUCK_READ_MS = 5000;
/** Callers waiting for the projection to reach a head, at most; more are answered false at once. */
const MAX_WAITERS = 10_000;

interface Waiter {
  readonly target: GlobalPosition;
  readonly settle: (reached: boolean) => void;
}

interface HeadRead {
  readonly result: Promise<HeartbeatHead | undefined>;
  readonly startedAt: number;
}

/**
 * Lets a caller wait until a projection fed from the bus has applied everything the store had
 * committed when the caller asked: read-your-writes for a replica that learns of a write only
 * when the relay publishes it (an admin key used the moment it was issued).
 *
 * Head reads are shared: at most one runs and one waits to run, whatever the number of callers,
 * and they start at least 10 ms apart, so a flood of unknown keys costs Postgres one query at a
 * time. A caller never joins a read that began before it asked, which could miss a commit made
 * just before.
 */
export class StoreCatchUp {
  private readonly waiters = new Set<Waiter>();
  private running: HeadRead | undefined;
  private queued: Promise<HeartbeatHead | undefined> | undefined;
  private lastStartedAt = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly readHead: () => Promise<HeartbeatHead | undefined>,
    private readonly applied: () => GlobalPosition,
  ) {}

  /**
   * True once every authentic event committed before the call is applied; false when that is
   * not known within `timeoutMs` (the store unreachable, the bus behind, an older transaction
   * still holding committed events back, too many callers waiting, or stopped).
   */
  async caughtUp(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.stopped) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      let read: HeartbeatHead | undefined | 'late';
      try {
        read = await within(this.freshHead(), left);
      } catch {
        return false;
      }
      if (read === 'late' || this.stopped) return false;
      if (!read) return true;
      if (!read.heldBack) return this.reached(read.head, deadline - performance.now());
      await sleep(Math.min(HELD_BACK_RETRY_MS, Math.max(0, deadline - performance.now())));
    }
    return false;
  }

  /** Tells the waiters the projection applied up to `position`; cheap when no one waits. */
  advanced(position: GlobalPosition): void {
    if (this.waiters.size === 0) return;
    for (const waiter of this.waiters) if (compareGlobalPositions(position, waiter.target) >= 0) waiter.settle(true);
  }

  /** Answers every waiting caller false, and every later one. */
  stop(): void {
    this.stopped = true;
    for (const waiter of this.waiters) waiter.settle(false);
  }

  private reached(target: GlobalPosition, timeoutMs: number): Promise<boolean> {
    if (compareGlobalPositions(this.applied(), target) >= 0) return Promise.resolve(true);
    if (timeoutMs <= 0 || this.waiters.size >= MAX_WAITERS) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        target,
        settle: (reached) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.settle(false), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * A head read that has not begun yet when this is called: the one queued (behind the running
   * read, and at least MIN_READ_GAP_MS after the last start), or a new one queued.
   */
  private freshHead(): Promise<HeartbeatHead | undefined> {
    const running = this.running;
    if (running && performance.now() - running.startedAt > STUCK_READ_MS) {
      // Given up on: it no longer holds back the reads of later callers.
      this.running = undefined;
      this.queued = undefined;
    }
    if (this.queued) return this.queued;
    const before = this.running ? this.running.result.then(ignore, ignore) : Promise.resolve();
    const queued: Promise<HeartbeatHead | undefined> = before.then(() => this.startAfterGap(queued));
    this.queued = queued;
    return queued;
  }

  private async startAfterGap(queued: Promise<HeartbeatHead | undefined>): Promise<HeartbeatHead | undefined> {
    const wait = this.lastStartedAt + MIN_READ_GAP_MS - performance.now();
    if (wait > 0) await sleep(wait);
    // From here on this read has begun: later callers queue another.
    if (this.queued === queued) this.queued = undefined;
    this.lastStartedAt = performance.now();
    const read: HeadRead = { result: this.readHead(), startedAt: this.lastStartedAt };
    this.running = read;
    const done = (): void => {
      if (this.running === read) this.running = undefined;
    };
    read.result.then(done, done);
    return read.result;
  }
}

function ignore(): void {}

/** The promise's value, or 'late' when it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
