/**
 * Periodic work on one grid of ticks per process, so that a process's periodic work wakes it
 * once, not once per timer. An idle service has several timers of a second (its heartbeat, its
 * lease, its event-loop sampler…); each set with its own `setInterval` fires at its own phase,
 * and every wake-up of an idle process costs CPU of its own (a third to half a millisecond on a
 * 2-core virtual machine). Here one timer serves every tick of the process, every tick of a
 * period falls on the same phase of that period, and ticks due at the same instant run in the
 * same wake-up, in the order they were registered.
 *
 * The grid is on the monotonic clock (`performance.now()`), so setting the wall clock moves no
 * tick. Its phase is the process's own, drawn at random, so replicas of a service started
 * together do not all take a lease, write a snapshot or run an hourly pass in the same
 * millisecond. Within a process, every period that is a whole number of seconds ticks at the
 * same fraction of a second (a 60 s pass at a second of the minute of its own), and so does
 * every period that divides a second: they share the wake-ups of the one-second ticks.
 */

export interface ProcessTick {
  /** The instant of the next tick, on `performance.now()`'s clock (ms). */
  readonly nextAt: number;
  /** Stops the ticks; a tick already running finishes. */
  stop(): void;
}

export interface ProcessTickOptions {
  /** Like `Timeout.unref`: these ticks alone do not keep the process alive. */
  readonly unref?: boolean;
}

interface Entry {
  readonly periodMs: number;
  readonly callback: () => void;
  readonly unref: boolean;
  /** The instant of its next tick (performance.now(), ms). */
  due: number;
}

const SECOND_MS = 1000;
/** The longest delay setTimeout takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Node measures a timer's delay from the event loop's cached time, which can be a little behind
 * `performance.now()` when the timer is set: it may fire a few milliseconds before the instant it
 * was set for. Within this much of that instant, the instant is taken as reached.
 */
const EARLY_FIRE_MS = 50;

/** The first instant after `after` that is `offsetMs` past a multiple of `periodMs`. */
export function nextTickAfter(after: number, periodMs: number, offsetMs = 0): number {
  const sinceTick = (((after - offsetMs) % periodMs) + periodMs) % periodMs;
  return after - sinceTick + periodMs;
}

/** One timer for every entry: set for the earliest tick due. */
class TickScheduler {
  private readonly entries = new Set<Entry>();
  private readonly offsets = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  /** The instant of the last ticks run, which the clock may not quite show yet (EARLY_FIRE_MS). */
  private lastRunFor = Number.NEGATIVE_INFINITY;
  /** Running the callbacks of a wake-up: a tick they set is set from `lastRunFor`. */
  private running = false;

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
    if (!this.entries.delete(entry)) return;
    // With no tick left, outside a wake-up, no tick is set from the last one's instant: a clock
    // that starts again (a test's fake timers) is not taken for one a few ms short of it.
    if (this.entries.size === 0 && !this.running) this.lastRunFor = Number.NEGATIVE_INFINITY;
    this.arm();
  }

  /** This process's offset of a period's ticks from its multiples (see the module's comment). */
  offsetOf(periodMs: number): number {
    let offset = this.offsets.get(periodMs);
    if (offset === undefined) {
      if (periodMs % SECOND_MS === 0) offset = this.phaseMs + SECOND_MS * Math.floor(this.random() * (periodMs / SECOND_MS));
      else if (SECOND_MS % periodMs === 0) offset = this.phaseMs % periodMs;
      // A period that can share no wake-up with the seconds' ticks: a phase of its own.
      else offset = Math.floor(this.random() * periodMs);
      this.offsets.set(periodMs, offset);
    }
    return offset;
  }

  private nextTick(after: number, periodMs: number): number {
    return nextTickAfter(after, periodMs, this.offsetOf(periodMs));
  }

  /** The clock, or the instant just run for when the clock is a few ms short of it. */
  private now(): number {
    const now = performance.now();
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
    this.timer = setTimeout(() => this.run(), Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(earliest - performance.now()))));
    if (!keepsAlive) this.timer.unref();
  }

  private run(): void {
    const firedFor = this.timerDue;
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    // Fired well before its instant: a delay capped at setTimeout's longest. Set again.
    if (performance.now() < firedFor - EARLY_FIRE_MS) {
      this.arm();
      return;
    }
    this.lastRunFor = firedFor;
    const now = this.now();
    const due: Entry[] = [];
    for (const entry of this.entries) {
      if (entry.due > now) continue;
      // The next tick after this one, or after now if the process was held up past several.
      entry.due = this.nextTick(now, entry.periodMs);
      due.push(entry);
    }
    this.arm();
    this.running = true;
    try {
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
    } finally {
      this.running = false;
      // The last one-off tick ran: as when the last tick is stopped.
      if (this.entries.size === 0) this.lastRunFor = Number.NEGATIVE_INFINITY;
    }
  }
}

const scheduler = new TickScheduler(Math.floor(Math.random() * SECOND_MS), Math.random);

/**
 * This process's offset of `periodMs`'s ticks from the multiples of the period on
 * `performance.now()`'s clock: ticks come at `k × periodMs + tickOffset(periodMs)`.
 */
export function tickOffset(periodMs: number): number {
  return scheduler.offsetOf(periodMs);
}

/**
 * Calls `callback` once a `periodMs`, at this process's phase of the period (`tickOffset`): the
 * first within one period from now. A process held up past several ticks runs the callback
 * once, then resumes on its phase. Periods of whole seconds, and periods that divide a second,
 * tick in the wake-ups of the process's one-second ticks.
 */
export function everyTick(periodMs: number, callback: () => void, options: ProcessTickOptions = {}): ProcessTick {
  if (!Number.isInteger(periodMs) || periodMs < 1) throw new RangeError(`a tick period must be a whole number of milliseconds from 1, not ${periodMs}`);
  const entry = scheduler.add({ periodMs, callback, unref: options.unref ?? false });
  return {
    get nextAt() {
      return entry.due;
    },
    stop: () => scheduler.remove(entry),
  };
}

/** Calls `callback` once, at the next tick of `periodMs` (`everyTick`), with the process's other ticks due then. */
export function atNextTick(periodMs: number, callback: () => void, options: ProcessTickOptions = {}): ProcessTick {
  const tick = everyTick(
    periodMs,
    () => {
      tick.stop();
      callback();
    },
    options,
  );
  return tick;
}
