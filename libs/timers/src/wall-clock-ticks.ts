/**
 * Periodic work on the wall clock's multiples of its period, so that a process's periodic work
 * wakes it once, not once per timer. An idle service has several timers of a second (its
 * heartbeat, its lease, its event-loop sampler…); each set with its own `setInterval` fires at
 * its own phase, and every wake-up of an idle process costs CPU of its own (a third to half a
 * millisecond on a 2-core virtual machine). Here every tick of every period falls on a multiple
 * of that period since the epoch, one timer serves them all, and ticks due at the same instant
 * run in the same wake-up, in the order they were registered.
 */

export interface WallClockTick {
  /** The wall-clock instant (ms since the epoch) of the next tick. */
  readonly nextAt: number;
  /** Stops the ticks; a tick already running finishes. */
  stop(): void;
}

export interface WallClockTickOptions {
  /** Like `Timeout.unref`: these ticks alone do not keep the process alive. */
  readonly unref?: boolean;
}

interface Entry {
  readonly periodMs: number;
  readonly callback: () => void;
  readonly unref: boolean;
  /** The wall-clock instant (ms since the epoch) of its next tick. */
  due: number;
}

/** The first multiple of `periodMs` after `after`. */
export function nextMultiple(after: number, periodMs: number): number {
  return after - (after % periodMs) + periodMs;
}

/** One timer for every entry: set for the earliest tick due. */
class WallClockScheduler {
  private readonly entries = new Set<Entry>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;

  add(entry: Entry): void {
    this.entries.add(entry);
    this.arm();
  }

  remove(entry: Entry): void {
    if (this.entries.delete(entry)) this.arm();
  }

  private arm(): void {
    let earliest = Number.POSITIVE_INFINITY;
    let keepsAlive = false;
    for (const entry of this.entries) {
      earliest = Math.min(earliest, entry.due);
      keepsAlive ||= !entry.unref;
    }
    if (earliest === this.timerDue && this.timer) {
      if (keepsAlive) this.timer.ref();
      else this.timer.unref();
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = earliest;
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(() => this.run(), Math.max(0, earliest - Date.now()));
    if (!keepsAlive) this.timer.unref();
  }

  private run(): void {
    // Node measures a timer's delay from the event loop's cached time, which can be a little
    // behind the wall clock when the timer is set: it may fire a millisecond or so before the
    // instant it was set for. The ticks of that instant are due all the same, not set again
    // for the few milliseconds left (a second wake-up for nothing).
    const firedFor = this.timerDue;
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const due: Entry[] = [];
    for (const entry of this.entries) {
      if (entry.due > Math.max(now, firedFor)) continue;
      // The next tick after this one, or after now if the process was held up past several.
      entry.due = nextMultiple(Math.max(now, entry.due), entry.periodMs);
      due.push(entry);
    }
    this.arm();
    for (const entry of due) {
      // A tick stopped by an earlier one's callback does not run.
      if (!this.entries.has(entry)) continue;
      try {
        entry.callback();
      } catch (error) {
        // As from a timer of its own: the failure is the process's, and the other ticks still run.
        process.nextTick(() => {
          throw error;
        });
      }
    }
  }
}

const scheduler = new WallClockScheduler();

/**
 * Calls `callback` at every multiple of `periodMs` of the wall clock (ms since the epoch): the
 * first within one period from now, then one a period. A process held up past several ticks
 * runs the callback once, then resumes on the multiples. Periods that divide one another
 * (250 ms, 1 s, 5 s) tick together, in one wake-up of the process.
 */
export function everyWallClockPeriod(periodMs: number, callback: () => void, options: WallClockTickOptions = {}): WallClockTick {
  if (!Number.isInteger(periodMs) || periodMs < 1) throw new RangeError(`a tick period must be a whole number of milliseconds from 1, not ${periodMs}`);
  const entry: Entry = { periodMs, callback, unref: options.unref ?? false, due: nextMultiple(Date.now(), periodMs) };
  scheduler.add(entry);
  return {
    get nextAt() {
      return entry.due;
    },
    stop: () => scheduler.remove(entry),
  };
}

/**
 * Calls `callback` once, at the first multiple of `periodMs` of the wall clock after now (so it
 * runs in the same wake-up as the other ticks due then).
 */
export function atNextWallClockMultiple(periodMs: number, callback: () => void, options: WallClockTickOptions = {}): WallClockTick {
  const tick = everyWallClockPeriod(
    periodMs,
    () => {
      tick.stop();
      callback();
    },
    options,
  );
  return tick;
}
