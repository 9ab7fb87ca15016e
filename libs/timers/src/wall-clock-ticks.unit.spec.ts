import { jest } from '@jest/globals';
import { atNextWallClockMultiple, everyWallClockPeriod, nextMultiple } from './wall-clock-ticks.js';
import type { WallClockTick } from './wall-clock-ticks.js';

describe('ticks on the wall clock', () => {
  const ticks: WallClockTick[] = [];
  const every = (periodMs: number, callback: () => void): WallClockTick => {
    const tick = everyWallClockPeriod(periodMs, callback);
    ticks.push(tick);
    return tick;
  };

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_250 });
  });

  afterEach(() => {
    ticks.splice(0).forEach((tick) => tick.stop());
    jest.useRealTimers();
  });

  it('finds the first multiple of a period after an instant', () => {
    expect(nextMultiple(1_000_250, 1000)).toBe(1_001_000);
    expect(nextMultiple(1_001_000, 1000)).toBe(1_002_000);
    expect(nextMultiple(1_000_250, 5000)).toBe(1_005_000);
  });

  it('ticks on the multiples of its period, the first within one period', () => {
    const at: number[] = [];
    const tick = every(1000, () => at.push(Date.now()));
    expect(tick.nextAt).toBe(1_001_000);
    jest.advanceTimersByTime(2750);
    expect(at).toEqual([1_001_000, 1_002_000, 1_003_000]);
    expect(tick.nextAt).toBe(1_004_000);
  });

  it('runs the ticks of timers set at different moments in one wake-up, in the order they were set', () => {
    const at: string[] = [];
    every(1000, () => at.push(`heartbeat ${Date.now()}`));
    jest.advanceTimersByTime(400);
    every(1000, () => at.push(`lease ${Date.now()}`));
    every(5000, () => at.push(`sync ${Date.now()}`));
    // One timer for all three, where setInterval would have set three at three phases.
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(4400);
    expect(at).toEqual([
      'heartbeat 1001000',
      'lease 1001000',
      'heartbeat 1002000',
      'lease 1002000',
      'heartbeat 1003000',
      'lease 1003000',
      'heartbeat 1004000',
      'lease 1004000',
      'heartbeat 1005000',
      'lease 1005000',
      'sync 1005000',
    ]);
    expect(jest.getTimerCount()).toBe(1);
  });

  it('ticks once for a process held up past several ticks, then on the multiples again', () => {
    const at: number[] = [];
    every(1000, () => at.push(Date.now()));
    // The wall clock moves 3.5 s while no timer runs (a process stopped, a long synchronous
    // task): the tick set for 1_001_000 comes 750 ms later on the timer's own clock.
    jest.setSystemTime(1_003_750);
    jest.advanceTimersByTime(1500);
    expect(at).toEqual([1_004_500, 1_005_000]);
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

  it('calls a one-off tick once, at the next multiple', () => {
    const at: number[] = [];
    ticks.push(atNextWallClockMultiple(1000, () => at.push(Date.now())));
    jest.advanceTimersByTime(5000);
    expect(at).toEqual([1_001_000]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('refuses a period that is not a whole number of milliseconds from 1', () => {
    for (const period of [0, -1000, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => everyWallClockPeriod(period, () => undefined)).toThrow(RangeError);
    }
    expect(jest.getTimerCount()).toBe(0);
  });
});
