import { FreshnessTracker, MAX_HEARTBEAT_CLOCK_LEAD_MS, heartbeatInstant, isFresh } from './projection-freshness.js';

const MAX_STALENESS_MS = 5000;
const byNumber = (a: number, b: number): number => a - b;

describe('projection freshness', () => {
  it('is fresh while the newest head applied was announced at most the bound ago, and never before one', () => {
    expect(isFresh(undefined, 0, MAX_STALENESS_MS)).toBe(false);
    expect(isFresh(1000, 6000, MAX_STALENESS_MS)).toBe(true);
    expect(isFresh(1000, 6001, MAX_STALENESS_MS)).toBe(false);
  });

  it('counts a heartbeat from when it was sent, or when it arrived if that is earlier, and ignores one dated far ahead', () => {
    // Buffered through a disconnect (or replayed): worth only its send time.
    expect(heartbeatInstant(1000, 9000)).toBe(1000);
    // A relay clock slightly ahead: counted from its arrival.
    expect(heartbeatInstant(9500, 9000)).toBe(9000);
    expect(heartbeatInstant(9000 + MAX_HEARTBEAT_CLOCK_LEAD_MS + 1, 9000)).toBeUndefined();
  });

  it('becomes fresh when it has applied the head a heartbeat announced, and stale once that is too old', () => {
    const tracker = new FreshnessTracker(byNumber, MAX_STALENESS_MS);
    expect(tracker.isFresh(0)).toBe(false);
    expect(tracker.heard(10, 1000, 1000, 9)).toBe('waiting');
    expect(tracker.isFresh(1000)).toBe(false);
    expect(tracker.behindSince()).toBe(1000);
    tracker.applied(10);
    expect(tracker.isFresh(1000)).toBe(true);
    expect(tracker.behindSince()).toBeUndefined();
    expect(tracker.isFresh(1000 + MAX_STALENESS_MS)).toBe(true);
    expect(tracker.isFresh(1001 + MAX_STALENESS_MS)).toBe(false);
    expect(tracker.stalenessMs(1001 + MAX_STALENESS_MS)).toBe(MAX_STALENESS_MS + 1);
  });

  it('stays fresh by an older heartbeat while a newer head is still on its way', () => {
    const tracker = new FreshnessTracker(byNumber, MAX_STALENESS_MS);
    tracker.heard(10, 1000, 1000, 10);
    tracker.heard(20, 2000, 2000, 10);
    tracker.heard(30, 3000, 3000, 10);
    expect(tracker.stalenessMs(3000)).toBe(2000);
    // Applying up to 25 reaches the second heartbeat only.
    tracker.applied(25);
    expect(tracker.stalenessMs(3000)).toBe(1000);
    tracker.applied(30);
    expect(tracker.stalenessMs(3000)).toBe(0);
  });

  it('is not made fresh by an old heartbeat heard again, nor moved back by it', () => {
    const tracker = new FreshnessTracker(byNumber, MAX_STALENESS_MS);
    tracker.heard(10, 1000, 1000, 10);
    // The same heartbeat replayed 10 s later, at a projection stuck at its head.
    expect(tracker.heard(10, 1000, 11_000, 10)).toBe('reached');
    expect(tracker.isFresh(11_000)).toBe(false);
    tracker.heard(20, 12_000, 12_000, 20);
    tracker.heard(10, 1000, 12_500, 20);
    expect(tracker.stalenessMs(12_500)).toBe(500);
  });

  it('does not believe a heartbeat dated far in its future, and keeps no heartbeat too old to help', () => {
    const tracker = new FreshnessTracker(byNumber, MAX_STALENESS_MS);
    expect(tracker.heard(10, 60_000, 1000, 10)).toBe('ignored-clock');
    expect(tracker.isFresh(1000)).toBe(false);
    expect(tracker.heard(50, 1000, 9000, 10)).toBe('waiting');
    expect(tracker.behindSince()).toBeUndefined();
  });
});
