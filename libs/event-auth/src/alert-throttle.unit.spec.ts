import { AlertThrottle } from './alert-throttle.js';

describe('AlertThrottle', () => {
  it('alerts for the first refusals of an interval, then counts the rest into the next alert', () => {
    const throttle = new AlertThrottle(2, 1000);
    expect(throttle.record(0)).toBe(1);
    expect(throttle.record(1)).toBe(1);
    expect([throttle.record(2), throttle.record(3), throttle.record(4)]).toEqual([undefined, undefined, undefined]);
    // Not before the interval is over…
    expect(throttle.flush(999)).toBeUndefined();
    // …then one summary of the three kept quiet.
    expect(throttle.flush(1000)).toBe(3);
    expect(throttle.flush(1001)).toBeUndefined();
    expect(throttle.record(1002)).toBe(1);
    expect(throttle.record(1003)).toBeUndefined();
    // A new interval: the one kept quiet comes with the next.
    expect(throttle.record(2000)).toBe(2);
  });

  it('counts every refusal of a flood into few alerts', () => {
    const throttle = new AlertThrottle(3, 60_000);
    const alerts: number[] = [];
    // One refusal a millisecond for 100 s: two intervals begun, then the summary after the last.
    for (let n = 0; n < 100_000; n += 1) {
      const count = throttle.record(n);
      if (count !== undefined) alerts.push(count);
    }
    const summary = throttle.flush(200_000);
    if (summary !== undefined) alerts.push(summary);
    expect(alerts.length).toBe(7);
    expect(alerts.reduce((sum, count) => sum + count, 0)).toBe(100_000);
  });

  it('wants a positive limit and interval', () => {
    expect(() => new AlertThrottle(0, 1000)).toThrow(RangeError);
    expect(() => new AlertThrottle(1, 0)).toThrow(RangeError);
  });
});
