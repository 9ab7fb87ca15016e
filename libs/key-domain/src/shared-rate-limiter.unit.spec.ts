import { SharedRateLimiter, creditWindowKey } from './shared-rate-limiter.js';

const PERIOD = 25;

/** A small seeded generator (mulberry32): random cases that are the same at every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
const RECOMPUTE_DELAY = 5;

/** One use as a verification makes it: assessed, then taken when allowed; the answer as a plain value. */
function admit(limiter: SharedRateLimiter, ...use: Parameters<SharedRateLimiter['assess']>) {
  const { allowed, exhausted, reset, remaining } = limiter.assess(...use);
  if (allowed) limiter.take();
  return { allowed, ...(allowed ? {} : { reset, exhausted }), ...(remaining === undefined ? {} : { remaining }) };
}

/**
 * Replicas in one process, with the sync a RateLimitSync runs over NATS: reports at aligned
 * ticks, delivered after `latency` ms, a recompute RECOMPUTE_DELAY ms after each tick.
 */
function simulate(options: {
  replicas: number;
  limit: number;
  windowMs: number;
  durationMs: number;
  demand: (replica: number, t: number) => number;
  latency?: (replica: number, t: number) => number;
  lost?: (replica: number, t: number) => boolean;
}) {
  const ids = Array.from({ length: options.replicas }, (_, i) => `verifier-${i}`);
  const limiters = ids.map((id) => new SharedRateLimiter(id));
  limiters.forEach((limiter) => limiter.setMembers(ids));
  limiters.forEach((limiter) => limiter.resolveLimitsWith((_keyId, windowMs) => (windowMs === options.windowMs ? options.limit : undefined)));
  const inFlight: { at: number; report: ReturnType<SharedRateLimiter['report']> }[] = [];
  const admittedPerWindow = new Map<number, number>();
  const limits = [{ limit: options.limit, windowMs: options.windowMs }];
  const start = 1_700_000_000_000; // a window boundary for 1 s and 10 s windows
  for (let t = start; t < start + options.durationMs; t += 1) {
    for (const message of inFlight.filter((m) => m.at <= t)) limiters.forEach((limiter) => limiter.receive(message.report));
    inFlight.splice(0, inFlight.length, ...inFlight.filter((m) => m.at > t));
    if (t % PERIOD === 0) {
      limiters.forEach((limiter, replica) => {
        // NATS delivers one publisher's messages in order: a late report holds back the ones after it.
        const after = Math.max(0, ...inFlight.filter((m) => m.report.instance === ids[replica]).map((m) => m.at));
        const report = limiter.report(t);
        if (!options.lost?.(replica, t)) inFlight.push({ at: Math.max(after, t + (options.latency?.(replica, t) ?? 1)), report });
      });
    }
    if (t % PERIOD === RECOMPUTE_DELAY) limiters.forEach((limiter) => limiter.recompute(t - RECOMPUTE_DELAY));
    const nextRecompute = t - (t % PERIOD) + PERIOD + RECOMPUTE_DELAY;
    limiters.forEach((limiter, replica) => {
      for (let n = 0; n < options.demand(replica, t - start); n += 1) {
        if (admit(limiter, 'key_a', limits, t, nextRecompute).allowed) {
          const window = t - (t % options.windowMs);
          admittedPerWindow.set(window, (admittedPerWindow.get(window) ?? 0) + 1);
        }
      }
    });
  }
  return [...admittedPerWindow.values()];
}

describe('SharedRateLimiter', () => {
  it('one replica admits exactly the limit in each window', () => {
    expect(simulate({ replicas: 1, limit: 100, windowMs: 1000, durationMs: 3000, demand: () => 1 })).toEqual([100, 100, 100]);
  });

  it('three replicas with even traffic never pass the limit and reach at least 95 % of it', () => {
    for (const limit of [10, 100, 1000]) {
      const admitted = simulate({ replicas: 3, limit, windowMs: 1000, durationMs: 5000, demand: (replica, t) => (t % 3 === replica ? 2 : 1) });
      for (const count of admitted) {
        expect(count).toBeLessThanOrEqual(limit);
        expect(count).toBeGreaterThanOrEqual(Math.floor(limit * 0.95));
      }
    }
  });

  it('three replicas never pass the limit when one gets all the traffic, and it still reaches 95 % of it', () => {
    const admitted = simulate({ replicas: 3, limit: 500, windowMs: 1000, durationMs: 4000, demand: (replica) => (replica === 0 ? 3 : 0) });
    for (const count of admitted) {
      expect(count).toBeLessThanOrEqual(500);
      expect(count).toBeGreaterThanOrEqual(475);
    }
  });

  it('never passes the limit with bursts and slow reports', () => {
    const burst = (replica: number, t: number): number => (Math.floor(t / 100) % 3 === replica ? 20 : 0);
    for (const count of simulate({ replicas: 3, limit: 300, windowMs: 1000, durationMs: 5000, demand: burst, latency: () => 4 })) {
      expect(count).toBeLessThanOrEqual(300);
    }
  });

  it('admits every use of a key used round-robin below its limit', () => {
    // 90 uses a second spread over three replicas, against a limit of 100: none refused.
    const admitted = simulate({
      replicas: 3,
      limit: 100,
      windowMs: 1000,
      durationMs: 3000,
      demand: (replica, t) => (t % 11 === 0 && (t / 11) % 3 === replica ? 1 : 0),
    });
    for (const count of admitted) expect(count).toBeGreaterThanOrEqual(90);
  });

  it('never exceeds the limit when reports arrive after the recompute, and still admits', () => {
    // Every third tick, replica 1's report takes 40 ms: the others must not recompute without it.
    const late = (replica: number, t: number): number => (replica === 1 && (t / PERIOD) % 3 === 0 ? 40 : 1);
    const admitted = simulate({ replicas: 3, limit: 200, windowMs: 1000, durationMs: 4000, demand: () => 1, latency: late });
    for (const count of admitted) {
      expect(count).toBeLessThanOrEqual(200);
      expect(count).toBeGreaterThanOrEqual(150);
    }
  });

  it('never exceeds the limit when reports are lost, and recovers at the next full report', () => {
    const lost = (replica: number, t: number): boolean => replica === 2 && (t / PERIOD) % 7 === 0;
    const admitted = simulate({ replicas: 3, limit: 300, windowMs: 1000, durationMs: 4000, demand: () => 1, lost });
    for (const count of admitted) {
      expect(count).toBeLessThanOrEqual(300);
      expect(count).toBeGreaterThanOrEqual(200);
    }
  });

  it('never passes the limit with random latencies and bursts over many short windows', () => {
    for (let seed = 1; seed <= 12; seed += 1) {
      const random = seeded(seed);
      const limit = 20 + Math.floor(random() * 200);
      // Bursts of 0–15 ms at random rates: replicas open each 100 ms window at different moments.
      const bursts = [0, 1, 2].map(() => Array.from({ length: 1000 }, () => (random() < 0.5 ? Math.floor(random() * 4) : 0)));
      const latencies = Array.from({ length: 4096 }, () => 1 + Math.floor(random() * 12));
      const admitted = simulate({
        replicas: 3,
        limit,
        windowMs: 100,
        durationMs: 5000,
        demand: (replica, t) => bursts[replica]![Math.floor(t / 15) % 1000]!,
        latency: (replica, t) => latencies[(t / PERIOD + replica * 7) % 4096]!,
      });
      for (const count of admitted) expect(count).toBeLessThanOrEqual(limit);
    }
  });

  it('a replica that has not heard the others yet admits no limited key', () => {
    const limiter = new SharedRateLimiter('new');
    const limits = [{ limit: 10, windowMs: 1000 }];
    expect(admit(limiter, 'key_a', limits, 5_000, 5_030)).toEqual({ allowed: false, reset: 5_030, exhausted: 'rate-limit' });
    limiter.report(5_000);
    limiter.setMembers(['new', 'other']);
    expect(limiter.recompute(5_000)).toBe(false); // the other has not reported tick 5000
    expect(admit(limiter, 'key_a', limits, 5_010, 5_030).allowed).toBe(false);
    // A report listing only changes tells nothing of what the other held before: still no share.
    limiter.receive({ instance: 'other', at: 5_000, previous: 4_975, full: false, counts: [] });
    expect(limiter.recompute(5_000)).toBe(false);
    limiter.receive({ instance: 'other', at: 5_000, previous: 4_975, full: true, counts: [] });
    expect(limiter.recompute(5_000)).toBe(true);
    expect(admit(limiter, 'key_a', limits, 5_020, 5_030).allowed).toBe(true);
  });

  it('sends every report full while it has no window, and only every fortieth once it has one', () => {
    const limiter = new SharedRateLimiter('idle');
    limiter.setMembers([]);
    expect(limiter.report(5_000).full).toBe(true);
    expect(limiter.report(5_025).full).toBe(true);
    admit(limiter, 'key_a', [{ limit: 10, windowMs: 60_000 }], 5_030, 5_055);
    const fulls = Array.from({ length: 40 }, (_, i) => limiter.report(5_050 + 25 * i).full).filter(Boolean);
    expect(fulls).toHaveLength(1);
  });

  it('cuts what it holds at once when a limit is lowered', () => {
    const limiter = new SharedRateLimiter('solo');
    limiter.setMembers([]);
    for (let i = 0; i < 3; i += 1) expect(admit(limiter, 'key_a', [{ limit: 100, windowMs: 60_000 }], 60_000_000 + i, 60_000_030).allowed).toBe(true);
    // Lowered to 5 with 3 admitted: 2 more, then refused, without waiting for a report.
    const lowered = [{ limit: 5, windowMs: 60_000 }];
    const outcomes = Array.from({ length: 4 }, (_, i) => admit(limiter, 'key_a', lowered, 60_000_010 + i, 60_000_030).allowed);
    expect(outcomes).toEqual([true, true, false, false]);
  });

  it('keeps counting what a departed replica admitted in an open window, and stops waiting for its reports', () => {
    const limiter = new SharedRateLimiter('a');
    const limits = [{ limit: 100, windowMs: 60_000 }];
    const tick = 60_000_000;
    limiter.report(tick);
    limiter.receive({ instance: 'b', at: tick, previous: null, full: true, counts: [['key_a', 60_000, tick, 90, 0]] });
    limiter.setMembers(['a', 'b']);
    limiter.setMembers(['a']);
    limiter.forget('b');
    let admitted = 0;
    for (let i = 0; i < 50; i += 1) if (admit(limiter, 'key_a', limits, tick + 1 + i, tick + 30).allowed) admitted += 1;
    limiter.report(tick + 25);
    expect(limiter.recompute(tick + 25)).toBe(true);
    for (let i = 0; i < 50; i += 1) if (admit(limiter, 'key_a', limits, tick + 31 + i, tick + 55).allowed) admitted += 1;
    expect(admitted).toBe(10);
  });

  it('says when a refused key may try again: the end of a spent window', () => {
    const limiter = new SharedRateLimiter('solo');
    limiter.setMembers([]);
    const limits = [
      { limit: 2, windowMs: 1000 },
      { limit: 100, windowMs: 60_000 },
    ];
    expect(admit(limiter, 'key_a', limits, 60_000_100, 60_000_130).allowed).toBe(true);
    expect(admit(limiter, 'key_a', limits, 60_000_200, 60_000_230).allowed).toBe(true);
    expect(admit(limiter, 'key_a', limits, 60_000_300, 60_000_330)).toEqual({ allowed: false, reset: 60_001_000, exhausted: 'rate-limit' });
    // The refused call consumed nothing of the longer window.
    expect(limiter.report(60_000_400)?.counts).toEqual(
      expect.arrayContaining([
        ['key_a', 1000, 60_000_000, 2, 0],
        ['key_a', 60_000, 60_000_000, 2, 98],
      ]),
    );
  });
});

/**
 * Replicas sharing one quota as KeyLimits runs them: each admits `cost` credits per use,
 * flushes what it admitted every second (an event every replica applies after its own
 * delay, lowering the balance it passes as the limit), and stops counting a flush once every
 * replica has applied it. Checks at every millisecond that the credits admitted so far never
 * exceed the balance.
 */
function simulateCredits(options: {
  replicas: number;
  balance: number;
  durationMs: number;
  demand: (replica: number, t: number) => number;
  cost: (replica: number, t: number) => number;
  applyDelay: (replica: number) => number;
  latency?: (replica: number, t: number) => number;
}) {
  const ids = Array.from({ length: options.replicas }, (_, i) => `verifier-${i}`);
  const limiters = ids.map((id) => new SharedRateLimiter(id));
  limiters.forEach((limiter) => limiter.setMembers(ids));
  const inFlight: { at: number; report: ReturnType<SharedRateLimiter['report']> }[] = [];
  const flushes: { from: number; amount: number; appliedAt: number[]; released: boolean }[] = [];
  const unflushed = ids.map(() => 0);
  const limitAt = (replica: number, t: number): number =>
    options.balance - flushes.filter((flush) => flush.appliedAt[replica]! <= t).reduce((sum, flush) => sum + flush.amount, 0);
  let clock = 0;
  limiters.forEach((limiter, replica) => limiter.resolveLimitsWith((_keyId, _windowMs, _start, credits) => (credits ? limitAt(replica, clock) : undefined)));
  let admitted = 0;
  const start = 1_700_000_000_000;
  const last: ReturnType<typeof admit>[] = [];
  /** Whether each replica forgot everything (after having had a window) at some point. */
  const forgot = ids.map(() => false);
  const hadWindow = ids.map(() => false);
  for (let t = start; t < start + options.durationMs; t += 1) {
    clock = t;
    for (const message of inFlight.filter((m) => m.at <= t)) limiters.forEach((limiter) => limiter.receive(message.report));
    inFlight.splice(0, inFlight.length, ...inFlight.filter((m) => m.at > t));
    if (t % PERIOD === 0)
      limiters.forEach((limiter, replica) => {
        const after = Math.max(0, ...inFlight.filter((m) => m.report.instance === ids[replica]).map((m) => m.at));
        inFlight.push({ at: Math.max(after, t + (options.latency?.(replica, t) ?? 1)), report: limiter.report(t) });
      });
    if (t % PERIOD === RECOMPUTE_DELAY) {
      limiters.forEach((limiter, replica) => {
        for (const flush of flushes)
          if (flush.from === replica && !flush.released && flush.appliedAt.every((at) => at <= t)) {
            limiter.release('key_a', 0, Number.POSITIVE_INFINITY, flush.amount);
            flush.released = true;
          }
        limiter.refreshQuotaLimits(() => limitAt(replica, t));
        limiter.recompute(t - RECOMPUTE_DELAY);
      });
    }
    if (t % 1000 === 500) {
      ids.forEach((_, replica) => {
        flushes.push({ from: replica, amount: unflushed[replica]!, appliedAt: ids.map((__, i) => t + options.applyDelay(i)), released: false });
        unflushed[replica] = 0;
      });
    }
    const nextRecompute = t - (t % PERIOD) + PERIOD + RECOMPUTE_DELAY;
    limiters.forEach((limiter, replica) => {
      for (let n = 0; n < options.demand(replica, t - start); n += 1) {
        const cost = options.cost(replica, t - start);
        const admission = admit(limiter, 'key_a', [], t, nextRecompute, { start: 0, end: Number.POSITIVE_INFINITY, limit: limitAt(replica, t), cost });
        last[replica] = admission;
        if (admission.allowed) {
          admitted += cost;
          unflushed[replica] = unflushed[replica]! + cost;
        }
      }
    });
    if (admitted > options.balance) throw new Error(`${admitted} credits admitted of ${options.balance} at ${t - start} ms`);
    limiters.forEach((limiter, replica) => {
      if (!limiter.idle) hadWindow[replica] = true;
      else if (hadWindow[replica]) forgot[replica] = true;
    });
  }
  return { admitted, last, forgot };
}

describe('SharedRateLimiter with quotas', () => {
  it('one replica admits exactly the balance, then refuses with USAGE_EXCEEDED and nothing remaining', () => {
    const { admitted, last } = simulateCredits({ replicas: 1, balance: 500, durationMs: 3000, demand: () => 1, cost: () => 1, applyDelay: () => 20 });
    expect(admitted).toBe(500);
    expect(last[0]).toEqual({ allowed: false, reset: Number.POSITIVE_INFINITY, exhausted: 'credits', remaining: 0 });
  });

  it('three replicas with costs from 0 to 5 never overspend and spend nearly all of it', () => {
    const cost = (replica: number, t: number): number => (t * 7 + replica) % 6;
    const { admitted, last } = simulateCredits({
      replicas: 3,
      balance: 3000,
      durationMs: 4000,
      demand: (r, t) => (t % 3 === r ? 2 : 1),
      cost,
      applyDelay: () => 15,
    });
    expect(admitted).toBeGreaterThanOrEqual(3000 - 3 * 5);
    for (const admission of last) expect(admission?.allowed).toBe(false);
  });

  it('never overspends when one replica gets all the traffic and flushes reach the replicas late and unevenly', () => {
    const { admitted } = simulateCredits({
      replicas: 3,
      balance: 2000,
      durationMs: 6000,
      demand: (replica) => (replica === 0 ? 3 : 0),
      cost: () => 2,
      applyDelay: (replica) => [10, 400, 900][replica]!,
    });
    expect(admitted).toBeGreaterThanOrEqual(1900);
  });

  it('never overspends with bursts of large costs', () => {
    const burst = (replica: number, t: number): number => (Math.floor(t / 100) % 3 === replica ? 10 : 0);
    const { admitted } = simulateCredits({
      replicas: 3,
      balance: 5000,
      durationMs: 5000,
      demand: burst,
      cost: (r, t) => 1 + (t % 50),
      applyDelay: (r) => 5 + r * 100,
    });
    expect(admitted).toBeGreaterThan(4500);
  });

  it('never overspends when replicas open a window between their report and the arrival of one that names it', () => {
    // Replica 0 opens the quota and spends one credit before the tick at 25 ms; the others
    // open it just after reporting that tick, before replica 0's report of it reaches them.
    const { admitted } = simulateCredits({
      replicas: 3,
      balance: 120,
      durationMs: 1000,
      demand: (replica, t) => (replica === 0 ? (t === 10 || t > 26 ? 1 : 0) : t > 25 ? 1 : 0),
      cost: () => 1,
      applyDelay: () => 15,
      latency: () => 3,
    });
    expect(admitted).toBeGreaterThanOrEqual(110);
  });

  it('never overspends with random latencies, bursts, costs, idle spells and flush delays', () => {
    for (let seed = 1; seed <= 12; seed += 1) {
      const random = seeded(seed);
      // Each replica is busy in bursts of 0–80 ms; all fall silent for over 11 s, long enough to
      // forget the quota, and each wakes up at its own moment.
      const bursts = [0, 1, 2].map(() => Array.from({ length: 400 }, () => (random() < 0.45 ? 1 + Math.floor(random() * 3) : 0)));
      const silentFrom = [0, 1, 2].map(() => 2000 + Math.floor(random() * 400));
      const silentFor = [0, 1, 2].map(() => 12_000 + Math.floor(random() * 1500));
      const latencies = Array.from({ length: 4096 }, () => 1 + Math.floor(random() * 12));
      const costs = Array.from({ length: 997 }, () => Math.floor(random() * 6));
      const delays = [0, 1, 2].map(() => 5 + Math.floor(random() * 300));
      const { admitted, forgot } = simulateCredits({
        replicas: 3,
        balance: 4000 + Math.floor(random() * 2000),
        durationMs: 17_000,
        demand: (replica, t) => (t > silentFrom[replica]! && t < silentFrom[replica]! + silentFor[replica]! ? 0 : bursts[replica]![Math.floor(t / 80) % 400]!),
        cost: (replica, t) => costs[(t * 3 + replica) % 997]!,
        applyDelay: (replica) => delays[replica]!,
        latency: (replica, t) => latencies[(t / PERIOD + replica * 7) % 4096]!,
      });
      expect(admitted).toBeGreaterThan(0);
      expect(forgot).toEqual([true, true, true]);
    }
  });

  it('forgets a quota window idle for 10 s once nothing it counted is left, and opens it again from what is unclaimed', () => {
    const limiter = new SharedRateLimiter('solo');
    limiter.setMembers([]);
    const credits = { start: 0, end: Number.POSITIVE_INFINITY, limit: 10, cost: 4 };
    expect(admit(limiter, 'key_a', [], 1000, 1030, credits)).toEqual({ allowed: true, remaining: 6 });
    expect(limiter.report(1025).counts).toEqual([[creditWindowKey('key_a'), Number.MAX_SAFE_INTEGER, 0, 4, 6]]);
    // Still counted (not flushed and released): kept however long it is idle.
    expect(limiter.report(60_000).counts).toEqual([]);
    limiter.release('key_a', 0, Number.POSITIVE_INFINITY, 4);
    expect(limiter.report(60_025).counts).toEqual([[creditWindowKey('key_a'), Number.MAX_SAFE_INTEGER, 0, 0, 6]]);
    limiter.report(60_050, 1);
    // A full report (every one, with fullEvery 1) leaves the idle window out; its recompute forgets it.
    expect(limiter.report(60_075, 1)).toMatchObject({ full: true, counts: [] });
    limiter.recompute(60_075);
    expect(limiter.idle).toBe(true);
    // The balance from events now says 6: the window reopens with all of it.
    expect(admit(limiter, 'key_a', [], 60_100, 60_130, { ...credits, limit: 6 })).toEqual({ allowed: true, remaining: 2 });
  });

  it('keeps a quota window used between the full report that left it out and its recompute, and reports it again', () => {
    const [a, b] = [new SharedRateLimiter('a'), new SharedRateLimiter('b')];
    for (const limiter of [a, b]) limiter.setMembers(['a', 'b']);
    const credits = { start: 0, end: Number.POSITIVE_INFINITY, limit: 100, cost: 1 };
    const exchange = (at: number, fullEvery = 40) => {
      const reports = [a.report(at, fullEvery), b.report(at, fullEvery)];
      for (const report of reports) for (const limiter of [a, b]) limiter.receive(report);
    };
    exchange(0);
    // b opens the quota with its share, 50, and spends 10 of it; the events then say 90 are left.
    for (let t = 10; t < 20; t += 1) expect(admit(b, 'key_a', [], t, 30, credits).allowed).toBe(true);
    exchange(25);
    b.release('key_a', 0, Number.POSITIVE_INFINITY, 10);
    exchange(50);
    // Idle for 10 s: b's next full report leaves the window out, and a use comes before its recompute.
    exchange(19_975, 1);
    exchange(20_000, 1);
    expect(admit(b, 'key_a', [], 20_001, 20_005, { ...credits, limit: 90 }).allowed).toBe(true);
    b.recompute(20_000);
    // It spent from the 40 it still held (opened afresh, it would have held 45), and lists the window again.
    expect(b.report(20_025).counts).toEqual([[creditWindowKey('key_a'), Number.MAX_SAFE_INTEGER, 0, 1, 39]]);
  });

  it('opens a window it hears of with its share, so its first use there is admitted at once', () => {
    const [a, b] = [new SharedRateLimiter('a'), new SharedRateLimiter('b')];
    for (const limiter of [a, b]) limiter.setMembers(['a', 'b']);
    const limits = [{ limit: 90, windowMs: 60_000 }];
    b.resolveLimitsWith((keyId, windowMs) => (keyId === 'key_a' && windowMs === 60_000 ? 90 : undefined));
    for (const report of [a.report(60_000_000), b.report(60_000_000)]) for (const limiter of [a, b]) limiter.receive(report);
    expect(admit(a, 'key_a', limits, 60_000_010, 60_000_030).allowed).toBe(true);
    b.receive(a.report(60_000_025));
    // a opened with 45 and spent 1; b takes its share of the 45 it sees unclaimed.
    expect(b.report(60_000_025).counts).toEqual([['key_a', 60_000, 60_000_000, 0, 22]]);
    expect(admit(b, 'key_a', limits, 60_000_026, 60_000_030).allowed).toBe(true);
    // A window b cannot find the limit of (a key it does not hold, or a limit of another length) opens nothing.
    expect(admit(a, 'key_b', limits, 60_000_027, 60_000_030).allowed).toBe(true);
    expect(admit(a, 'key_a', [{ limit: 5, windowMs: 1000 }], 60_000_028, 60_000_030).allowed).toBe(true);
    b.receive(a.report(60_000_050));
    // b lists only the window it used.
    expect(b.report(60_000_050).counts.map(([keyId, windowMs]) => [keyId, windowMs])).toEqual([['key_a', 60_000]]);
  });

  it('counts a quota apart from a rate limit of the same window, and a refusal by either consumes neither', () => {
    const limiter = new SharedRateLimiter('solo');
    limiter.setMembers([]);
    const day = 86_400_000;
    const limits = [{ limit: 2, windowMs: day }];
    const credits = { start: 0, end: day, limit: 10, cost: 4 };
    expect(admit(limiter, 'key_a', limits, 1000, 1030, credits)).toEqual({ allowed: true, remaining: 6 });
    expect(admit(limiter, 'key_a', limits, 1001, 1030, credits)).toEqual({ allowed: true, remaining: 2 });
    expect(admit(limiter, 'key_a', [], 1002, 1030, credits)).toEqual({ allowed: false, reset: day, exhausted: 'credits', remaining: 2 });
    expect(admit(limiter, 'key_a', limits, 1003, 1030, { ...credits, cost: 1 })).toMatchObject({ allowed: false, exhausted: 'rate-limit', remaining: 2 });
    expect(limiter.report(1010).counts).toEqual(
      expect.arrayContaining([
        ['key_a', day, 0, 2, 0],
        [creditWindowKey('key_a'), day, 0, 8, 2],
      ]),
    );
    // What is left can be read without charging, for a quota used here or not yet.
    expect(limiter.quotaRemaining('key_a', { start: 0, end: day, limit: 10 })).toBe(2);
    expect(limiter.quotaRemaining('key_b', { start: 0, end: day, limit: 10 })).toBe(10);
  });
});
