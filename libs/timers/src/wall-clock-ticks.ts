/**
 * Periodic work on the wall clock, so that a process's periodic work wakes it once, not once
 * per timer. An idle service has several timers of a second (its heartbeat, its lease, its
 * event-loop sampler…); each set with its own `setInterval` fires at its own phase, and every
 * wake-up of an idle process costs CPU of its own (a third to half a millisecond on a 2-core
 * virtual machine). Here one timer serves every tick of the process, every tick of a period
 * falls on the same phase of that period, and ticks due at the same instant run in the same
 * wake-up, in the order they were registered.
 *
 * The phase is the process's own, drawn at random: processes (replicas of one service on
 * machines whose clocks agree) do not tick in step, so they do not all take a lease, write a
 * snapshot or run an hourly pass in the same millisecond. Within a process, every period that
 * is a whole number of seconds ticks at the same fraction of a second (a 60 s pass at a second
 * of the minute of its own), and so does every period that divides a second: they share the
 * wake-ups of the one-second ticks.
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

const SECOND_MS = 1000;
/** The longest delay setTimeout takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Node measures a timer's delay from the event loop's cached time, which can be a little behind
 * the wall clock when the timer is set: it may fire a few milliseconds before the instant it was
 * set for. Within this much of that instant, the wall clock is taken to have reached it.
 */
const EARLY_FIRE_MS = 50;

/** The first instant after `after` that is `offsetMs` past a multiple of `periodMs`. */
export function nextTickAfter(after: number, periodMs: number, offsetMs = 0): number {
  const sinceTick = (((after - offsetMs) % periodMs) + periodMs) % periodMs;
  return after - sinceTick + periodMs;
}

/** One timer for every entry: set for the earliest tick due. */
class WallClockScheduler {
  private readonly entries = new Set<Entry>();
  private readonly offsets = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  /** The instant of the last ticks run, which the wall clock may not quite show yet (EARLY_FIRE_MS). */
  private lastRunFor = Number.NEGATIVE_INFINITY;

  constructor(
    /** The process's phase within a second, in ms. */
    private readonly phaseMs: number,
    private readonly random: () => number,
  ) {}

  add(entry: Omit<Entry, 'due'>): Entry {
    const added: Entry = { ...entry, due: this.nextTick(this.now(), entry.periodMs) };
    this.entries.add(added);
    this.arm();
    return added;
  }

  remove(entry: Entry): void {
    if (this.entries.delete(entry)) this.arm();
  }

  /** This process's offset of a period's ticks from its multiples (see the module's comment). */
  offsetOf(periodMs: number): number {
    let offset = this.offsets.get(periodMs);
    if (offset === undefined) {
      offset = periodMs % SECOND_MS === 0 ? this.phaseMs + SECOND_MS * Math.floor(this.random() * (periodMs / SECOND_MS)) : this.phaseMs % periodMs;
      this.offsets.set(periodMs, offset);
    }
    return offset;
  }

  private nextTick(after: number, periodMs: number): number {
    return nextTickAfter(after, periodMs, this.offsetOf(periodMs));
  }

  /** The wall clock, or the instant just run for when the clock is a few ms short of it. */
  private now(): number {
    const now = Date.now();
    return this.lastRunFor > now && this.lastRunFor - now <= EARLY_FIRE_MS ? this.lastRunFor : now;
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
    this.timer = setTimeout(() => this.run(), Math.min(MAX_TIMER_MS, Math.max(0, earliest - Date.now())));
    if (!keepsAlive) this.timer.unref();
  }

  private run(): void {
    const firedFor = this.timerDue;
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    // Not the greater of the two: after the wall clock was set back, the instants run for are earlier ones.
    if (Date.now() >= firedFor - EARLY_FIRE_MS) this.lastRunFor = firedFor;
    const now = this.now();
    const due: Entry[] = [];
    for (const entry of this.entries) {
      // The timer runs on the monotonic clock: what it fired for is due even if the wall clock
      // was set back meanwhile, and a tick the wall clock now puts more than a period away (set
      // back again) is brought back to the period, rather than waiting out the step.
      if (entry.due <= Math.max(now, firedFor)) {
        entry.due = this.nextTick(now, entry.periodMs);
        due.push(entry);
      } else if (entry.due - now > entry.periodMs) {
        entry.due = this.nextTick(now, entry.periodMs);
      }
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

const scheduler = new WallClockScheduler(Math.floor(Math.random() * SECOND_MS), Math.random);

/**
 * This process's offset of `periodMs`'s ticks from the wall clock's multiples of it: ticks come
 * at `k × periodMs + wallClockOffset(periodMs)`.
 */
export function wallClockOffset(periodMs: number): number {
  return scheduler.offsetOf(periodMs);
}

/**
 * Calls `callback` once a `periodMs` on the wall clock, at this process's phase of the period
 * (`wallClockOffset`): the first within one period from now. A process held up past several
 * ticks runs the callback once, then resumes on its phase. Periods that divide one another
 * (250 ms, 1 s, 5 s) tick together, in one wake-up of the process.
 */
export function everyWallClockPeriod(periodMs: number, callback: () => void, options: WallClockTickOptions = {}): WallClockTick {
  if (!Number.isInteger(periodMs) || periodMs < 1) throw new RangeError(`a tick period must be a whole number of milliseconds from 1, not ${periodMs}`);
  const entry = scheduler.add({ periodMs, callback, unref: options.unref ?? false });
  return {
    get nextAt() {
      return entry.due;
    },
    stop: () => scheduler.remove(entry),
  };
}

/** Calls `callback` once, at the next tick of `periodMs` (`everyWallClockPeriod`), with the process's other ticks due then. */
export function atNextWallClockTick(periodMs: number, callback: () => void, options: WallClockTickOptions = {}): WallClockTick {
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
