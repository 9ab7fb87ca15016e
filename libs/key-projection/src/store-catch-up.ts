import { setTimeout as sleep } from 'node:timers/promises';
import type { GlobalPosition } from '@keyledger/contracts';
import type { HeartbeatHead } from '@keyledger/event-store';
import { compareGlobalPositions } from '@keyledger/event-store';

/** How long to wait before reading the head again while an older transaction holds committed events back. */
const HELD_BACK_RETRY_MS = 25;

interface Waiter {
  readonly target: GlobalPosition;
  readonly reached: () => void;
}

/**
 * Lets a caller wait until a projection fed from the bus has applied everything the store had
 * committed when the caller asked: read-your-writes for a replica that learns of a write only
 * when the relay publishes it (an admin key used the moment it was issued).
 *
 * Head reads are shared: at most one runs and one waits to run, whatever the number of callers,
 * so a flood of unknown keys costs Postgres one query at a time. A caller never joins a read
 * that began before it asked, which could miss a commit made just before.
 */
export class StoreCatchUp {
  private readonly waiters = new Set<Waiter>();
  private running: Promise<HeartbeatHead | undefined> | undefined;
  private queued: Promise<HeartbeatHead | undefined> | undefined;

  constructor(
    private readonly readHead: () => Promise<HeartbeatHead | undefined>,
    private readonly applied: () => GlobalPosition,
  ) {}

  /**
   * True once every authentic event committed before the call is applied; false when that is
   * not known within `timeoutMs` (the store unreachable, the bus behind, or an older transaction
   * still holding committed events back).
   */
  async caughtUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let read: HeartbeatHead | undefined | 'late';
      try {
        read = await within(this.freshHead(), left);
      } catch {
        return false;
      }
      if (read === 'late') return false;
      if (!read) return true;
      if (!read.heldBack) return this.reached(read.head, deadline - Date.now());
      await sleep(Math.min(HELD_BACK_RETRY_MS, Math.max(0, deadline - Date.now())));
    }
  }

  /** Tells the waiters the projection applied up to `position`; cheap when no one waits. */
  advanced(position: GlobalPosition): void {
    if (this.waiters.size === 0) return;
    for (const waiter of this.waiters) if (compareGlobalPositions(position, waiter.target) >= 0) waiter.reached();
  }

  private reached(target: GlobalPosition, timeoutMs: number): Promise<boolean> {
    if (compareGlobalPositions(this.applied(), target) >= 0) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        target,
        reached: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** A head read that began after this call: the running one if none is, else the one queued behind it. */
  private freshHead(): Promise<HeartbeatHead | undefined> {
    if (!this.running) return this.start();
    this.queued ??= this.running.then(
      () => this.start(),
      () => this.start(),
    );
    return this.queued;
  }

  private start(): Promise<HeartbeatHead | undefined> {
    this.queued = undefined;
    const read = this.readHead().finally(() => {
      if (this.running === read) this.running = undefined;
    });
    this.running = read;
    return read;
  }
}

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
