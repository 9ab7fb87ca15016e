import type { AnomalyFinding, UsageObservation } from './anomaly-detector.js';
import { AnomalyDetector } from './anomaly-detector.js';
import { parseKeyBaseline } from './key-baseline.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 2025-01-06 00:00 UTC. */
const MONDAY = Date.UTC(2025, 0, 6);
const KEY = 'key_01jqaaaaaaaaaaaaaaaaaaaaaa';

const call = (at: number, code: UsageObservation['code'] = 'VALID'): UsageObservation => ({ at, keyId: KEY, tenant: 'acme', ip: '198.51.100.7', code, calls: 1 });

/** A call every 5 minutes from 09:00 to 17:59 UTC, Monday to Friday, for `weeks` weeks from `from` (a Monday). */
function officeHours(from: number, weeks: number): UsageObservation[] {
  const calls: UsageObservation[] = [];
  for (let day = 0; day < 7 * weeks; day++) {
    if (day % 7 >= 5) continue;
    for (let at = from + day * DAY + 9 * HOUR; at < from + day * DAY + 18 * HOUR; at += 5 * 60_000) calls.push(call(at));
  }
  return calls;
}

function live(): { detector: AnomalyDetector; feed: (observations: Iterable<UsageObservation>) => AnomalyFinding[] } {
  let now = MONDAY;
  const detector = new AnomalyDetector(() => now);
  return {
    detector,
    feed(observations) {
      const findings: AnomalyFinding[] = [];
      for (const observation of observations) {
        now = Math.max(now, observation.at);
        detector.observe(observation, findings);
      }
      return findings.filter((finding) => finding.detector === 'off-hours');
    },
  };
}

describe('off-hours', () => {
  it('finds a call at an hour of the week a key is never used in, once its profile has learned, and learns that hour', () => {
    const { feed } = live();
    expect(feed(officeHours(MONDAY, 3))).toEqual([]);
    const sunday = MONDAY + 20 * DAY + 3 * HOUR + 17 * 60_000;
    const [finding, ...more] = feed([call(sunday)]);
    expect(more).toEqual([]);
    expect(finding).toMatchObject({
      detector: 'off-hours',
      severity: 'medium',
      subject: { kind: 'key', keyId: KEY, tenant: 'acme' },
      detail: 'a call on Sun 03:00 UTC, an hour of the week the key is not used in (used in 45 of 168)',
      evidence: { hourOfWeek: 'Sun 03:00 UTC', usualHours: 45 },
    });
    // A week on, past the cool-down: that hour is the key's own now.
    expect(feed([...officeHours(MONDAY + 21 * DAY, 1), call(sunday + 7 * DAY)])).toEqual([]);
  });

  it('takes the hour either side of a usual one as usual: a job that drifts past the hour is no finding', () => {
    const { feed } = live();
    feed(officeHours(MONDAY, 3));
    expect(feed([call(MONDAY + 21 * DAY + 18 * HOUR + 40 * 60_000), call(MONDAY + 21 * DAY + 8 * HOUR + 5 * 60_000)])).toEqual([]);
  });

  it('does not judge before two weeks of profile, nor a key used round the clock, nor a refused call', () => {
    const early = live();
    expect(early.feed([...officeHours(MONDAY, 1), call(MONDAY + 6 * DAY + 3 * HOUR)])).toEqual([]);

    // Every hour of the week used but three in a row: 165 usual hours, more than 144.
    const busy = live();
    const hourOfWeek = (at: number): number => Math.floor(at / HOUR) % 168;
    const quiet = (at: number): boolean => hourOfWeek(at) >= 99 && hourOfWeek(at) <= 101;
    const roundTheClock = Array.from({ length: 21 * 24 * 4 }, (_, n) => call(MONDAY + n * 15 * 60_000));
    expect(busy.feed(roundTheClock.filter((observation) => !quiet(observation.at)))).toEqual([]);
    const later = MONDAY + 21 * DAY;
    expect(busy.feed([call(later + (((100 - hourOfWeek(later)) % 168) + 168) % 168 * HOUR)])).toEqual([]);

    const refused = live();
    refused.feed(officeHours(MONDAY, 3));
    expect(refused.feed([call(MONDAY + 20 * DAY + 3 * HOUR, 'INSUFFICIENT_PERMISSIONS'), call(MONDAY + 20 * DAY + 3 * HOUR, 'REVOKED')])).toEqual([]);
  });

  it('starts the weekly profile of a baseline stored without one, and judges nothing until it has learned', () => {
    const { detector, feed } = live();
    feed(officeHours(MONDAY, 3));
    const stored = JSON.parse(JSON.stringify(detector.baseline(KEY))) as Record<string, unknown>;
    delete stored['weekHours'];
    delete stored['weekHoursEpoch'];
    delete stored['weekHoursSince'];
    detector.restore(KEY, parseKeyBaseline(stored));
    // Sunday 03:00: the profile begins with this call (and learns its hour), so it is no finding.
    expect(feed([call(MONDAY + 20 * DAY + 3 * HOUR)])).toEqual([]);
    // Saturday 02:00, a week later: the profile has learned for only a week.
    expect(feed([...officeHours(MONDAY + 21 * DAY, 1), call(MONDAY + 26 * DAY + 2 * HOUR)])).toEqual([]);
    // Saturday 06:00, over two weeks after it began: judged.
    expect(feed([...officeHours(MONDAY + 28 * DAY, 2), call(MONDAY + 40 * DAY + 6 * HOUR)])).toHaveLength(1);
  });

  it('forgets an hour unused for four to eight weeks', () => {
    const { feed } = live();
    // Saturday mornings used in the first week only, then office hours for ten weeks.
    const saturday = (week: number): UsageObservation => call(MONDAY + week * 7 * DAY + 5 * DAY + 10 * HOUR);
    feed([saturday(0), ...officeHours(MONDAY, 10)]);
    expect(feed([saturday(10)])).toHaveLength(1);
  });
});
