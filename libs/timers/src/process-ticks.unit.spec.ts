import { jest } from '@jest/globals';
import { atNextTick, everyTick, nextTickAfter, tickOffset } from './process-ticks.js';
import type { ProcessTick } from './process-ticks.js';

const DAY_MS = 86_400_000;

describe("a process's ticks", () => {
  const ticks: ProcessTick[] = [];
  const every = (periodMs: number, callback: () => void): ProcessTick => {
    const tick = everyTick(periodMs, callback);
    ticks.push(tick);
    return tick;
  };
  /** This process's phase within a second. */
  const phase = tickOffset(1000);
  let start = 0;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_800_000_000_000 });
    start = performance.now();
  });

  afterEach(() => {
    ticks.splice(0).forEach((tick) => tick.stop());
    jest.useRealTimers();
  });

  it('finds the first tick of a period after an instant, at an offset from its multiples', () => {
    expect(nextTickAfter(1_000_250, 1000)).toBe(1_001_000);
    expect(nextTickAfter(1_001_000, 1000)).toBe(1_002_000);
    expect(nextTickAfter(1_000_250, 1000, 300)).toBe(1_000_300);
    expect(nextTickAfter(1_000_250, 1000, 250)).toBe(1_001_250);
    expect(nextTickAfter(1_000_250, 5000, 4999)).toBe(1_004_999);
    expect(nextTickAfter(-250, 1000)).toBe(0);
  });

  it('gives every period of whole seconds, and every period that divides a second, the same phase within a second', () => {
    expect(phase).toBeGreaterThanOrEqual(0);
    expect(phase).toBeLessThan(1000);
    for (const period of [2000, 5000, 60_000, 3_600_000]) {
      const offset = tickOffset(period);
      expect(offset % 1000).toBe(phase);
      expect(offset).toBeLessThan(period);
      expect(tickOffset(period)).toBe(offset);
    }
    expect(tickOffset(250)).toBe(phase % 250);
    // A period that can share no wake-up with the seconds' ticks takes a phase of its own, anywhere in it.
    expect(tickOffset(1500)).toBeLessThan(1500);
    expect(tickOffset(1500)).toBe(tickOffset(1500));
  });

  it("ticks once a period at the process's phase, the first within one period", () => {
    const at: number[] = [];
    const tick = every(1000, () => at.push(performance.now()));
    const first = nextTickAfter(start, 1000, phase);
    expect(tick.nextAt).toBe(first);
    jest.advanceTimersByTime(2999);
    expect(at).toEqual([first, first + 1000, first + 2000].filter((instant) => instant <= start + 2999));
    for (const instant of at) expect(instant % 1000).toBe(phase);
  });

  it('runs the ticks of timers set at different moments in one wake-up, in the order they were set', () => {
    const at: string[] = [];
    every(1000, () => at.push(`heartbeat ${performance.now()}`));
    jest.advanceTimersByTime(400);
    every(1000, () => at.push(`lease ${performance.now()}`));
    every(5000, () => at.push(`sync ${performance.now()}`));
    // One timer for all three, where setInterval would have set three at three phases.
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(10_000);
    const instants = (name: string): number[] => at.filter((line) => line.startsWith(name)).map((line) => Number(line.split(' ')[1]));
    // Each lease tick comes right after the heartbeat of the same instant.
    for (const instant of instants('lease')) expect(at.indexOf(`lease ${instant}`)).toBe(at.indexOf(`heartbeat ${instant}`) + 1);
    expect(instants('lease').length).toBeGreaterThanOrEqual(9);
    expect(instants('sync').length).toBeGreaterThanOrEqual(2);
    for (const instant of instants('sync')) expect(instants('heartbeat')).toContain(instant);
    expect(jest.getTimerCount()).toBe(1);
  });

  it('keeps ticking once a period when the wall clock is set back or forward', () => {
    const at: number[] = [];
    every(1000, () => at.push(performance.now()));
    jest.advanceTimersByTime(1000);
    jest.setSystemTime(Date.now() - 5500);
    jest.advanceTimersByTime(2000);
    jest.setSystemTime(Date.now() + 3_600_000);
    jest.advanceTimersByTime(2000);
    expect(at).toHaveLength(5);
    for (const [i, instant] of at.slice(1).entries()) expect(instant - at[i]!).toBe(1000);
  });

  it('ticks a period longer than a timer can wait (24.8 days) once, at its instant', () => {
    const at: number[] = [];
    const tick = every(30 * DAY_MS, () => at.push(performance.now()));
    const first = tick.nextAt;
    jest.advanceTimersByTime(61 * DAY_MS);
    // Its offset is anywhere in the 30 days: a first tick within a day of start has a third in the 61 days.
    expect(at).toEqual([first, first + 30 * DAY_MS, first + 60 * DAY_MS].filter((instant) => instant <= start + 61 * DAY_MS));
    expect(at.length).toBeGreaterThanOrEqual(2);
  });

  it('stops ticking once stopped, even a tick due in the same wake-up', () => {
    const at: string[] = [];
    const second: ProcessTick[] = [];
    every(1000, () => {
      at.push('first');
      second[0]!.stop();
    });
    second.push(every(1000, () => at.push('second')));
    jest.advanceTimersByTime(3000);
    expect(at).toEqual(['first', 'first', 'first']);
    ticks[0]!.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('runs the other ticks of a wake-up when one throws, and the failure still reaches the process', () => {
    const at: string[] = [];
    every(1000, () => {
      throw new Error('a heartbeat that broke');
    });
    every(1000, () => at.push('lease'));
    expect(() => jest.advanceTimersByTime(1000)).toThrow('a heartbeat that broke');
    expect(at).toEqual(['lease']);
  });

  it('sets a tick from the clock, not from the last wake-up, once every tick has stopped and the clock starts again', () => {
    const first = every(50, () => undefined);
    jest.advanceTimersByTime(50);
    first.stop();
    // A clock that starts again (fake timers installed anew) reads less than the last wake-up did.
    jest.useFakeTimers({ now: 1_800_000_000_000 });
    const restarted = performance.now();
    const at: number[] = [];
    ticks.push(atNextTick(50, () => at.push(performance.now())));
    jest.advanceTimersByTime(100);
    expect(at).toEqual([nextTickAfter(restarted, 50, tickOffset(50))]);
  });

  it('calls a one-off tick once, at the next tick of its period', () => {
    const at: number[] = [];
    ticks.push(atNextTick(1000, () => at.push(performance.now())));
    jest.advanceTimersByTime(5000);
    expect(at).toEqual([nextTickAfter(start, 1000, phase)]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('sets a one-off tick set again from its own callback for the next period, not the same instant', () => {
    const at: number[] = [];
    const again = (): void => {
      at.push(performance.now());
      if (at.length < 3) ticks.push(atNextTick(1000, again));
    };
    ticks.push(atNextTick(1000, again));
    jest.advanceTimersByTime(4000);
    expect(at).toHaveLength(3);
    expect([at[1]! - at[0]!, at[2]! - at[1]!]).toEqual([1000, 1000]);
  });

  it('refuses a period that is not a whole number of milliseconds from 1', () => {
    for (const period of [0, -1000, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => everyTick(period, () => undefined)).toThrow(RangeError);
    }
    expect(jest.getTimerCount()).toBe(0);
  });
});
