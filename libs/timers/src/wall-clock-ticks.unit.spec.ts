import { jest } from '@jest/globals';
import { atNextWallClockTick, everyWallClockPeriod, nextTickAfter, wallClockOffset } from './wall-clock-ticks.js';
import type { WallClockTick } from './wall-clock-ticks.js';

const START = 1_000_000_000;

describe('ticks on the wall clock', () => {
  const ticks: WallClockTick[] = [];
  const every = (periodMs: number, callback: () => void): WallClockTick => {
    const tick = everyWallClockPeriod(periodMs, callback);
    ticks.push(tick);
    return tick;
  };
  /** This process's phase within a second. */
  const phase = wallClockOffset(1000);

  beforeEach(() => {
    jest.useFakeTimers({ now: START });
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
  });

  it('gives every period of whole seconds, and every period that divides a second, the same phase within a second', () => {
    expect(phase).toBeGreaterThanOrEqual(0);
    expect(phase).toBeLessThan(1000);
    for (const period of [2000, 5000, 60_000, 3_600_000]) {
      const offset = wallClockOffset(period);
      expect(offset % 1000).toBe(phase);
      expect(offset).toBeLessThan(period);
      expect(wallClockOffset(period)).toBe(offset);
    }
    expect(wallClockOffset(250)).toBe(phase % 250);
  });

  it("ticks once a period at the process's phase, the first within one period", () => {
    const at: number[] = [];
    const tick = every(1000, () => at.push(Date.now()));
    const first = nextTickAfter(START, 1000, phase);
    expect(tick.nextAt).toBe(first);
    jest.advanceTimersByTime(2999);
    expect(at).toEqual([first, first + 1000, first + 2000].filter((instant) => instant < START + 2999));
    expect(at.length).toBeGreaterThanOrEqual(2);
    for (const instant of at) expect(instant % 1000).toBe(phase);
  });

  it('runs the ticks of timers set at different moments in one wake-up, in the order they were set', () => {
    const at: string[] = [];
    every(1000, () => at.push(`heartbeat ${Date.now()}`));
    jest.advanceTimersByTime(400);
    every(1000, () => at.push(`lease ${Date.now()}`));
    every(5000, () => at.push(`sync ${Date.now()}`));
    // One timer for all three, where setInterval would have set three at three phases.
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(10_000);
    const instants = (name: string): number[] => at.filter((line) => line.startsWith(name)).map((line) => Number(line.split(' ')[1]));
    const heartbeats = instants('heartbeat');
    // Each lease tick comes right after the heartbeat of the same instant.
    for (const instant of instants('lease')) expect(at.indexOf(`lease ${instant}`)).toBe(at.indexOf(`heartbeat ${instant}`) + 1);
    expect(instants('lease').length).toBeGreaterThanOrEqual(9);
    expect(instants('sync').length).toBeGreaterThanOrEqual(2);
    for (const instant of instants('sync')) expect(heartbeats).toContain(instant);
    expect(jest.getTimerCount()).toBe(1);
  });

  it('ticks once for a process held up past several ticks, then at its phase again', () => {
    const at: number[] = [];
    every(1000, () => at.push(Date.now()));
    const first = nextTickAfter(START, 1000, phase);
    // The wall clock moves 3.5 s while no timer runs (a process stopped, a long synchronous
    // task): the tick set for `first` comes late, once, on the timer's own clock.
    jest.setSystemTime(START + 3500);
    jest.advanceTimersByTime(first - START + 1000);
    expect(at[0]).toBe(START + 3500 + (first - START));
    expect(at.slice(1)).toEqual([nextTickAfter(at[0]!, 1000, phase)].filter((instant) => instant <= Date.now()));
  });

  it('keeps ticking once a period when the wall clock is set back', () => {
    const at: number[] = [];
    every(1000, () => at.push(Date.now()));
    jest.advanceTimersByTime(1000);
    expect(at).toHaveLength(1);
    // The clock is set back 5 s: the ticks go on a period apart, not 5 s later.
    jest.setSystemTime(Date.now() - 5000);
    jest.advanceTimersByTime(3000);
    expect(at.length).toBeGreaterThanOrEqual(3);
    for (const [i, instant] of at.slice(2).entries()) expect(instant - at[i + 1]!).toBe(1000);
  });

  it('stops ticking once stopped, even a tick due in the same wake-up', () => {
    const at: string[] = [];
    const second: WallClockTick[] = [];
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

  it('calls a one-off tick once, at the next tick of its period', () => {
    const at: number[] = [];
    ticks.push(atNextWallClockTick(1000, () => at.push(Date.now())));
    jest.advanceTimersByTime(5000);
    expect(at).toEqual([nextTickAfter(START, 1000, phase)]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('sets a one-off tick set again from its own callback for the next period, not the same instant', () => {
    const at: number[] = [];
    const again = (): void => {
      at.push(Date.now());
      // A timer can fire a little before the wall clock shows its instant (Node counts from the
      // loop's cached time): the tick set again here must still be the next period's.
      jest.setSystemTime(Date.now() - 2);
      if (at.length < 3) ticks.push(atNextWallClockTick(1000, again));
    };
    ticks.push(atNextWallClockTick(1000, again));
    jest.advanceTimersByTime(4000);
    expect(at).toHaveLength(3);
    expect([at[1]! - at[0]!, at[2]! - at[1]!]).toEqual([1000, 1000]);
  });

  it('refuses a period that is not a whole number of milliseconds from 1', () => {
    for (const period of [0, -1000, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => everyWallClockPeriod(period, () => undefined)).toThrow(RangeError);
    }
    expect(jest.getTimerCount()).toBe(0);
  });
});
