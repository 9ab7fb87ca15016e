import fc from 'fast-check';
import type { AnomalyFinding, UsageObservation } from './anomaly-detector.js';
import { AnomalyDetector } from './anomaly-detector.js';
import { DEFAULT_ANOMALY_SETTINGS } from './anomaly-settings.js';
import { InvalidKeyBaselineError, parseKeyBaseline } from './key-baseline.js';
import { sourceNetwork } from './source-network.js';

const T0 = Date.UTC(2025, 0, 6, 0, 0, 0);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const KEY = 'key_01jqaaaaaaaaaaaaaaaaaaaaaa';

/** A small deterministic generator (mulberry32), so the noise is the same at every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A detector whose clock is the latest record's time (it runs live). */
function live(): { detector: AnomalyDetector; feed: (observations: Iterable<UsageObservation>) => AnomalyFinding[] } {
  let now = T0;
  const detector = new AnomalyDetector(() => now);
  return {
    detector,
    feed(observations) {
      const findings: AnomalyFinding[] = [];
      for (const observation of observations) {
        now = Math.max(now, observation.at);
        detector.observe(observation, findings);
      }
      return findings;
    },
  };
}

const call = (at: number, extra: Partial<UsageObservation> = {}): UsageObservation => ({
  at,
  keyId: KEY,
  tenant: 'acme',
  ip: '198.51.100.7',
  code: 'VALID',
  calls: 1,
  ...extra,
});

/** Calls of KEY at about `perSecond` (Poisson arrivals) from `from` to `to`. */
function* steady(from: number, to: number, perSecond: number, seed = 1, extra: Partial<UsageObservation> = {}): Generator<UsageObservation> {
  const next = random(seed);
  for (let at = from; at < to; at += Math.max(1, Math.round((-Math.log(1 - next()) / perSecond) * 1000))) yield call(at, extra);
}

describe('sourceNetwork', () => {
  it('takes the /24 of an IPv4 address and the /48 of an IPv6 one', () => {
    expect(sourceNetwork('198.51.100.7')).toBe('198.51.100.0/24');
    expect(sourceNetwork('::ffff:198.51.100.7')).toBe('198.51.100.0/24');
    expect(sourceNetwork('2001:db8:1:2::5')).toBe('2001:db8:1::/48');
    expect(sourceNetwork('not an address')).toBeUndefined();
    expect(sourceNetwork(undefined)).toBeUndefined();
  });

  it('puts every address of a /24 in one network and none outside it', () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)), fc.nat(255), fc.nat(255), ([a, b, c], x, y) => {
        expect(sourceNetwork(`${a}.${b}.${c}.${x}`)).toBe(sourceNetwork(`${a}.${b}.${c}.${y}`));
        expect(sourceNetwork(`${a}.${b}.${c}.${x}`)).not.toBe(sourceNetwork(`${a}.${b}.${(c + 1) % 256}.${x}`));
      }),
    );
  });
});

describe('rate spikes', () => {
  it('flags a key whose rate jumps to 20 times its own within two seconds, once per cool-down', () => {
    const { feed, detector } = live();
    // A day of history first: a key's daily pattern is not known before.
    expect(feed(steady(T0, T0 + DAY + HOUR, 2))).toEqual([]);
    const attack = T0 + DAY + HOUR;
    const findings = feed(steady(attack, attack + 5 * MINUTE, 40, 2));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ detector: 'rate-spike', subject: { kind: 'key', keyId: KEY, tenant: 'acme' } });
    expect(findings[0]!.at - attack).toBeLessThan(2 * SECOND);
    expect(findings[0]!.detail).toMatch(/calls in 5 s against \d/);
    // The attack was learned only up to the line: the usual rate stays the key's own.
    expect(detector.baseline(KEY)!.mean).toBeLessThan(60);
  });

  it('stays quiet on a steady noisy key, a new key that starts fast, and a quiet key below the floor', () => {
    const { feed } = live();
    expect(feed(steady(T0, T0 + 6 * HOUR, 5, 3))).toEqual([]);
    const other = 'key_01jqbbbbbbbbbbbbbbbbbbbbbb';
    expect(feed(steady(T0, T0 + 30 * MINUTE, 50, 4, { keyId: other }))).toEqual([]);
    const quiet = 'key_01jqcccccccccccccccccccccc';
    expect(feed([...steady(T0, T0 + 2 * HOUR, 0.01, 5, { keyId: quiet }), ...steady(T0 + 2 * HOUR, T0 + 2 * HOUR + MINUTE, 2, 6, { keyId: quiet })])).toEqual(
      [],
    );
  });

  it('says nothing of a key before it has a day of history', () => {
    const { feed } = live();
    expect(feed([...steady(T0, T0 + 20 * HOUR, 2), ...steady(T0 + 20 * HOUR, T0 + 20 * HOUR + MINUTE, 40, 2)])).toEqual([]);
  });

  it("judges an attack against the line before it: its first seconds, in the window before, do not raise the hour's peak", () => {
    // A floor of 40 leaves room for a partial window of attack that is no spike by itself.
    const rate = { ...DEFAULT_ANOMALY_SETTINGS.rate, floor: 40 };
    let now = T0;
    const detector = new AnomalyDetector(() => now, { ...DEFAULT_ANOMALY_SETTINGS, rate });
    const feed = (observations: Iterable<UsageObservation>): AnomalyFinding[] => {
      const findings: AnomalyFinding[] = [];
      for (const observation of observations) {
        now = observation.at;
        detector.observe(observation, findings);
      }
      return findings;
    };
    expect(feed(steady(T0, T0 + DAY + HOUR, 0.1))).toEqual([]);
    // 10 calls/s from 2.5 s before a window ends: 25 calls there, under the floor. Learned as the
    // hour's peak they would double the line (50, crossed 7.5 s in); held back, the line stays 40 (5.5 s in).
    const attack = T0 + DAY + HOUR + 10 * rate.windowMs - 2500;
    const calls = Array.from({ length: 600 }, (_, n) => call(attack + n * 100));
    const findings = feed(calls);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.at - attack).toBeLessThan(6500);
    // Nor does the rest of it become the hour's peak: a window over the line teaches it the line at most.
    feed(steady(attack + MINUTE, attack + 2 * MINUTE, 0.1, 4));
    expect(Math.max(...detector.baseline(KEY)!.hourly)).toBeLessThanOrEqual(rate.floor);
  });

  it("never learns a burst over the line as the hour's peak, so bursts repeated just over it cannot raise the line", () => {
    const { feed, detector } = live();
    feed(steady(T0, T0 + DAY + HOUR, 0.5));
    const peakBefore = Math.max(...detector.baseline(KEY)!.hourly);
    let at = T0 + DAY + HOUR;
    for (let round = 0; round < 6; round++) {
      // 30 calls in a second, then 12 s of silence, then a minute of the usual rate.
      feed(Array.from({ length: 30 }, (_, n) => call(at + n * 30)));
      at += 13 * SECOND;
      feed(steady(at, at + MINUTE, 0.5, 40 + round));
      at += MINUTE;
    }
    expect(Math.max(...detector.baseline(KEY)!.hourly)).toBeLessThanOrEqual(Math.max(peakBefore, DEFAULT_ANOMALY_SETTINGS.rate.floor));
  });

  it('learns the rate afresh from a baseline learned with another window (or stored before the window was kept)', () => {
    let now = T0;
    const tenSeconds = { ...DEFAULT_ANOMALY_SETTINGS, rate: { ...DEFAULT_ANOMALY_SETTINGS.rate, windowMs: 10_000 } };
    const before = new AnomalyDetector(() => now, tenSeconds);
    for (const observation of steady(T0, T0 + DAY + HOUR, 2)) before.observe(observation, []);
    const learned = JSON.parse(JSON.stringify(before.baseline(KEY))) as Record<string, unknown>;
    expect(learned['rateWindowMs']).toBe(10_000);
    for (const stored of [learned, { ...learned, rateWindowMs: undefined }]) {
      now = T0 + DAY + HOUR;
      const after = new AnomalyDetector(() => now);
      after.restore(KEY, parseKeyBaseline(JSON.parse(JSON.stringify(stored))));
      expect(after.baseline(KEY)).toMatchObject({ rateWindowMs: DEFAULT_ANOMALY_SETTINGS.rate.windowMs, mean: 0, learned: 0, calls: learned['calls'] });
      // Warming up again: a burst is not judged against counts of another window.
      const findings: AnomalyFinding[] = [];
      for (const observation of steady(now, now + MINUTE, 40, 9)) after.observe(observation, findings);
      expect(findings.filter((finding) => finding.detector === 'rate-spike')).toEqual([]);
    }
  });

  it("leaves a burst of refused calls to probing: a key's rate is its use, and one attack is one detector's", () => {
    const { feed } = live();
    feed(steady(T0, T0 + DAY + HOUR, 0.1));
    const burst = Array.from({ length: 40 }, (_, n) => call(T0 + DAY + HOUR + n * 100, { code: 'INSUFFICIENT_PERMISSIONS' }));
    expect(feed(burst).map((finding) => [finding.detector, finding.severity])).toEqual([
      ['probing', 'medium'],
      ['probing', 'high'],
    ]);
  });

  it('reports a nightly job that starts after the warm-up on its first night only', () => {
    const { feed } = live();
    const nights: number[] = [];
    for (let day = 0; day < 8; day++) {
      const found = feed([
        ...steady(T0 + day * DAY, T0 + day * DAY + 23 * HOUR, 1, 10 + day),
        ...(day >= 2 ? steady(T0 + day * DAY + 23 * HOUR, T0 + day * DAY + 23 * HOUR + 5 * MINUTE, 30, 20 + day) : []),
        ...steady(T0 + day * DAY + 23 * HOUR + 5 * MINUTE, T0 + (day + 1) * DAY, 1, 30 + day),
      ]);
      nights.push(found.length);
    }
    expect(nights).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it("does not flag a nightly job's burst it has seen before", () => {
    const { feed } = live();
    const calls: UsageObservation[] = [];
    for (let day = 0; day < 3; day++) {
      calls.push(...steady(T0 + day * DAY, T0 + day * DAY + 23 * HOUR, 1, 10 + day));
      calls.push(...steady(T0 + day * DAY + 23 * HOUR, T0 + day * DAY + 23 * HOUR + 5 * MINUTE, 30, 20 + day));
      calls.push(...steady(T0 + day * DAY + 23 * HOUR + 5 * MINUTE, T0 + (day + 1) * DAY, 1, 30 + day));
    }
    const findings = feed(calls);
    // The first night's burst is new; the later ones are the key's own.
    expect(findings.filter((finding) => finding.at > T0 + DAY)).toEqual([]);
  });
});

describe('new networks', () => {
  it('flags the first call from a new /24 once the key has a stable history, not while it learns', () => {
    const { feed } = live();
    expect(feed(steady(T0, T0 + HOUR, 0.5, 1, { ip: '198.51.100.7' }))).toEqual([]);
    expect(feed([call(T0 + HOUR, { ip: '203.0.113.9' })])).toEqual([]);
    expect(feed(steady(T0 + HOUR, T0 + 25 * HOUR, 0.05, 2, { ip: '198.51.100.8' }))).toEqual([]);
    expect(feed([call(T0 + 25 * HOUR, { ip: '203.0.113.200' })])).toEqual([]);
    const findings = feed([call(T0 + 25 * HOUR + SECOND, { ip: '192.0.2.50' })]);
    expect(findings).toMatchObject([{ detector: 'new-network', network: '192.0.2.0/24', severity: 'medium' }]);
  });

  it('does not judge a key that roamed over many networks while it learned', () => {
    const { feed } = live();
    const roaming = [...steady(T0, T0 + 25 * HOUR, 0.01, 3)].map((observation, i) => ({ ...observation, ip: `10.${i % 40}.0.1` }));
    expect(feed(roaming)).toEqual([]);
    expect(feed([call(T0 + 26 * HOUR, { ip: '192.0.2.50' })])).toEqual([]);
  });
});

describe('probing, dead keys, dormant keys', () => {
  it('flags 20 refusals for scope or address on one key in a minute as high, and on a key with a day of history, its third as medium first', () => {
    const { feed } = live();
    // A new key: the burst's line only (its usual refusals are not known yet).
    expect(feed(Array.from({ length: 20 }, (_, i) => call(T0 + i * SECOND, { code: i % 2 ? 'FORBIDDEN' : 'INSUFFICIENT_PERMISSIONS' })))).toMatchObject([
      { detector: 'probing', severity: 'high', at: T0 + 19 * SECOND },
    ]);
    const findings = feed(Array.from({ length: 20 }, (_, i) => call(T0 + 2 * DAY + i * SECOND, { code: i % 2 ? 'FORBIDDEN' : 'INSUFFICIENT_PERMISSIONS' })));
    // The slow line is crossed on the third refusal, the burst's on the twentieth: a worse finding breaks the cool-down of a lesser one.
    expect(findings.map((finding) => [finding.detector, finding.severity, finding.at - T0 - 2 * DAY])).toEqual([
      ['probing', 'medium', 2 * SECOND],
      ['probing', 'high', 19 * SECOND],
    ]);
    // Not the other way round: within the cool-down, nothing more.
    expect(feed(Array.from({ length: 30 }, (_, i) => call(T0 + 2 * DAY + 2 * MINUTE + i * SECOND, { code: 'FORBIDDEN' })))).toEqual([]);
  });

  it('finds slow probing on a key seldom refused, in seconds, but not on a key its client gets refused all day', () => {
    const slowProbe = (from: number) => Array.from({ length: 5 }, (_, i) => call(from + i * 2 * SECOND, { code: 'INSUFFICIENT_PERMISSIONS' }));
    const seldom = live();
    seldom.feed(steady(T0, T0 + DAY, 0.2, 3));
    expect(seldom.feed(slowProbe(T0 + DAY))).toMatchObject([{ detector: 'probing', severity: 'medium', at: T0 + DAY + 4 * SECOND }]);
    // A misconfigured client, refused every 10 s for a day: its key's usual is 6 a minute.
    const misconfigured = live();
    misconfigured.feed(steady(T0, T0 + DAY, 0.1, 4, { code: 'INSUFFICIENT_PERMISSIONS' }));
    expect(misconfigured.feed(slowProbe(T0 + 2 * DAY))).toEqual([]);
  });

  it('keeps a stored cool-down of unknown severity (a baseline from before severities were kept) closed to every finding', () => {
    const detector = new AnomalyDetector(() => T0 + 10 * MINUTE);
    const findings: AnomalyFinding[] = [];
    detector.observe(call(T0), findings);
    const stored = JSON.parse(JSON.stringify(detector.baseline(KEY))) as Record<string, unknown>;
    delete stored['quietSeverity'];
    delete stored['deniedMean'];
    delete stored['deniedSince'];
    stored['quietUntil'] = { probing: T0 + HOUR };
    expect(parseKeyBaseline(stored)).toMatchObject({ quietSeverity: { probing: 'critical' }, deniedMean: 0, deniedSince: 0 });
  });

  it('judges a key kept from before refusals were learned by the slow line only a day after, whatever its age', () => {
    const { detector, feed } = live();
    feed(steady(T0, T0 + 3 * DAY, 0.05, 5));
    const stored = JSON.parse(JSON.stringify(detector.baseline(KEY))) as Record<string, unknown>;
    for (const field of ['deniedMean', 'deniedSince', 'deniedRecent']) delete stored[field];
    detector.restore(KEY, parseKeyBaseline(stored));
    const thrice = (from: number) => [0, 2, 4].map((s) => call(from + s * SECOND, { code: 'INSUFFICIENT_PERMISSIONS' }));
    expect(feed(thrice(T0 + 3 * DAY))).toEqual([]);
    expect(feed(thrice(T0 + 4 * DAY + MINUTE))).toMatchObject([{ detector: 'probing', severity: 'medium' }]);
  });

  it('flags a revoked, expired or suspended key presented, once per cool-down', () => {
    const { feed } = live();
    const findings = feed([call(T0, { code: 'REVOKED' }), call(T0 + SECOND, { code: 'REVOKED' }), call(T0 + 2 * HOUR, { code: 'DISABLED' })]);
    expect(findings.map((finding) => [finding.detector, finding.detail])).toEqual([
      ['dead-key-use', 'a revoked key was presented from 198.51.100.0/24'],
      ['dead-key-use', 'a suspended key was presented from 198.51.100.0/24'],
    ]);
  });

  it('flags a honeytoken presented as critical, with the call (address, transport, time, scopes), once per cool-down', () => {
    const { feed } = live();
    const honeytoken = { code: 'NOT_FOUND', honeytoken: true, transport: 'http', scopes: ['orders:read'] } as const;
    const findings = feed([call(T0, honeytoken), call(T0 + SECOND, honeytoken), call(T0 + 2 * HOUR, { ...honeytoken, transport: 'nats', ip: '203.0.113.9' })]);
    expect(findings).toEqual([
      expect.objectContaining({
        detector: 'honeytoken',
        severity: 'critical',
        subject: { kind: 'key', keyId: KEY, tenant: 'acme' },
        detail: 'a honeytoken was presented from 198.51.100.0/24 over http',
        call: { at: T0, ip: '198.51.100.7', transport: 'http', scopes: ['orders:read'] },
      }),
      expect.objectContaining({ detector: 'honeytoken', call: { at: T0 + 2 * HOUR, ip: '203.0.113.9', transport: 'nats', scopes: ['orders:read'] } }),
    ]);
  });

  it('reports a honeytoken seen late, and learns no baseline from it: a flood of its calls is no rate spike', () => {
    const detector = new AnomalyDetector(() => T0 + DAY);
    const findings: AnomalyFinding[] = [];
    for (let i = 0; i < 500; i += 1) detector.observe(call(T0 + i * 10, { code: 'NOT_FOUND', honeytoken: true, transport: 'grpc' }), findings);
    expect(findings.map((finding) => finding.detector)).toEqual(['honeytoken']);
    expect(detector.stats.stale).toBe(0);
    expect(detector.baseline(KEY)).toMatchObject({ calls: 500, learned: 0, inBucket: 0, networks: [] });
  });

  it('flags a key used after 30 days of silence, not its first call', () => {
    const { feed } = live();
    expect(feed([call(T0), call(T0 + 29 * DAY)])).toEqual([]);
    expect(feed([call(T0 + 60 * DAY)])).toMatchObject([{ detector: 'dormant-key-use', detail: 'used after 31 days without a call' }]);
  });
});

describe('enumeration', () => {
  const unknown = (at: number, fingerprint: string | undefined, ip = '203.0.113.5', calls = 1): UsageObservation => ({
    at,
    code: 'NOT_FOUND',
    ip,
    calls,
    ...(fingerprint === undefined ? {} : { fingerprint }),
  });

  it('flags 4 different unknown keys from one /24 in a minute as medium and 20 as high, each a finding about the source', () => {
    const { feed } = live();
    const findings = feed(Array.from({ length: 25 }, (_, i) => unknown(T0 + i * 100, i.toString(16).padStart(16, '0'), `203.0.113.${i}`)));
    expect(findings.map((finding) => [finding.severity, finding.at - T0])).toEqual([
      ['medium', 300],
      ['high', 1900],
    ]);
    expect(findings).toMatchObject([
      { detector: 'enumeration', subject: { kind: 'source', network: '203.0.113.0/24' } },
      { detector: 'enumeration', subject: { kind: 'source', network: '203.0.113.0/24' } },
    ]);
  });

  it('finds a slow guesser (a key every 1.5 s) within five seconds', () => {
    const { feed } = live();
    const findings = feed(Array.from({ length: 10 }, (_, i) => unknown(T0 + i * 1500, i.toString(16).padStart(16, '0'))));
    expect(findings).toMatchObject([{ detector: 'enumeration', severity: 'medium', at: T0 + 4500 }]);
  });

  it('goes on counting guesses from a network already denied, which get DENIED instead of NOT_FOUND', () => {
    const { feed } = live();
    const denied = Array.from({ length: 25 }, (_, i) => ({ ...unknown(T0 + i * 100, i.toString(16).padStart(16, '0')), code: 'DENIED' as const }));
    expect(feed(denied).map((finding) => [finding.detector, finding.severity])).toEqual([
      ['enumeration', 'medium'],
      ['enumeration', 'high'],
    ]);
  });

  it('does not flag one wrong key retried, nor three, and counts the calls the verifier tallied without a fingerprint for the burst', () => {
    const { feed } = live();
    expect(feed(Array.from({ length: 200 }, (_, i) => unknown(T0 + i * 100, 'aaaaaaaaaaaaaaaa')))).toEqual([]);
    expect(feed(Array.from({ length: 200 }, (_, i) => unknown(T0 + 10 * MINUTE + i * 100, ['a', 'b', 'c'][i % 3]!.repeat(16))))).toEqual([]);
    expect(feed([unknown(T0 + HOUR, undefined, '192.0.2.1', 19)])).toEqual([]);
    expect(feed([unknown(T0 + HOUR, undefined, '192.0.2.1', 11)])).toMatchObject([{ detector: 'enumeration', network: '192.0.2.0/24', severity: 'high' }]);
  });

  it('finds an enumeration again from a batch rolled back (what followed its finding failed), and keeps the cool-down of one kept', () => {
    const { detector, feed } = live();
    const burst = Array.from({ length: 25 }, (_, i) => unknown(T0 + i * 100, i.toString(16).padStart(16, '0')));
    detector.beginSourceBatch();
    const first = feed(burst);
    expect(first.map((finding) => finding.severity)).toEqual(['medium', 'high']);
    detector.rollBackSourceBatch();
    // The redelivered batch: the same findings, as they were, not a network cooling down.
    detector.beginSourceBatch();
    expect(feed(burst)).toEqual(first);
    detector.keepSourceBatch();
    detector.beginSourceBatch();
    expect(feed(burst)).toEqual([]);
    expect(detector.stats.cooledDown).toBeGreaterThan(0);
  });

  it('gives one tenant at most 10 source findings a minute; past them a finding goes to no tenant, naming it', () => {
    const { detector, feed } = live();
    // Twenty calls tallied without a fingerprint from each of twelve networks: a burst each, all naming acme.
    const guesses = (minute: number, network: number): UsageObservation => ({
      ...unknown(T0 + minute * MINUTE + network * 100, undefined, `198.51.${network}.1`, 20),
      tenant: 'acme',
    });
    const findings = feed(Array.from({ length: 12 }, (_, network) => guesses(0, network)));
    expect(findings.map((finding) => finding.subject.kind === 'source' && finding.subject.tenant)).toEqual([
      ...Array<string>(10).fill('acme'),
      undefined,
      undefined,
    ]);
    expect(findings[10]).toMatchObject({
      detail: '20 unknown or malformed keys from 198.51.10.0/24 in 60 s; the calls named tenant acme, given its 10 findings this minute',
      evidence: { namedTenant: 'acme' },
    });
    expect(detector.stats.tenantBudgetSpent).toBe(2);
    // The next minute, from networks not cooling down, the tenant is given findings again.
    const next = feed(Array.from({ length: 2 }, (_, network) => guesses(1, network + 20)));
    expect(next.map((finding) => finding.subject.kind === 'source' && finding.subject.tenant)).toEqual(['acme', 'acme']);
  });
});

describe('what is reported', () => {
  it('learns from old traffic but reports nothing on it', () => {
    const detector = new AnomalyDetector(() => T0 + DAY);
    const findings: AnomalyFinding[] = [];
    detector.observe(call(T0, { code: 'REVOKED' }), findings);
    expect(findings).toEqual([]);
    expect(detector.stats.stale).toBe(1);
    expect(detector.baseline(KEY)!.calls).toBe(1);
  });

  it('finds the same anomalies in the same records, whatever baselines were saved and restored between them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3 * HOUR), fc.constantFrom('VALID', 'REVOKED', 'FORBIDDEN', 'NOT_FOUND'), fc.nat(3)), { maxLength: 300 }),
        fc.nat(300),
        (raw, cut) => {
          const observations = raw
            .map(([offset, code, ip]): UsageObservation => ({ ...call(T0 + offset, { code: code as UsageObservation['code'], ip: `198.51.${ip}.1` }) }))
            .sort((a, b) => a.at - b.at);
          const run = (restoreAt: number | undefined): AnomalyFinding[] => {
            let detector = new AnomalyDetector(() => T0 + 3 * HOUR);
            const findings: AnomalyFinding[] = [];
            observations.forEach((observation, i) => {
              if (i === restoreAt) {
                const saved = detector.takeChanged().map(([keyId, baseline]) => [keyId, parseKeyBaseline(JSON.parse(JSON.stringify(baseline)))] as const);
                detector = new AnomalyDetector(() => T0 + 3 * HOUR);
                for (const [keyId, baseline] of saved) detector.restore(keyId, baseline);
              }
              detector.observe(observation, findings);
            });
            return findings.filter((finding) => finding.subject.kind === 'key');
          };
          expect(run(cut)).toEqual(run(undefined));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses a stored baseline that is not one', () => {
    const detector = new AnomalyDetector(() => T0);
    detector.observe(call(T0), []);
    const [[, baseline]] = detector.takeChanged() as [[string, object]];
    expect(parseKeyBaseline(JSON.parse(JSON.stringify(baseline)))).toEqual(baseline);
    expect(() => parseKeyBaseline({ ...baseline, mean: -1 })).toThrow(InvalidKeyBaselineError);
    expect(() => parseKeyBaseline({ ...baseline, v: 2 })).toThrow(/version/);
    expect(() => parseKeyBaseline({ ...baseline, quietUntil: { nope: 1 } })).toThrow(/quietUntil/);
    expect(() => parseKeyBaseline(null)).toThrow(InvalidKeyBaselineError);
  });

  it('uses the default settings unless given others', () => {
    expect(new AnomalyDetector(() => T0).settings).toBe(DEFAULT_ANOMALY_SETTINGS);
  });
});
