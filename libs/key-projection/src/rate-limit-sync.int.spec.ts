import { MAX_CONSUMPTION_ENTRIES_PER_MESSAGE, verifierConsumptionSubject } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { DEFAULT_RATE_LIMIT_SYNC, RateLimitSync } from './rate-limit-sync.js';

describe('rate-limit sync over NATS', () => {
  let ctx: TestContext;
  const syncs: RateLimitSync[] = [];
  const start = (instanceId: string): RateLimitSync => {
    const sync = new RateLimitSync(
      ctx.nc,
      { instanceId, subjectPrefix: ctx.topology.subjectPrefix, periodMs: 25, recomputeDelayMs: 5, memberTimeoutMs: 1000 },
      ctx.logger,
    );
    sync.start();
    syncs.push(sync);
    return sync;
  };
  const limits = [{ limit: 1_000_000, windowMs: 3_600_000 }];

  beforeAll(async () => {
    ctx = await createTestContext('ratesync');
  });
  afterAll(async () => {
    syncs.forEach((sync) => sync.stop());
    await ctx.close();
  });

  it('shares windows too many for one message, in parts, and ignores a malformed or forged report', async () => {
    const busy = start('verifier-busy');
    const other = start('verifier-other');
    await eventually(
      'each hears the other',
      () => [busy.members().length, other.members().length],
      (m) => m[0] === 2 && m[1] === 2,
    );
    const keys = MAX_CONSUMPTION_ENTRIES_PER_MESSAGE + 500;
    // One use of a key, as a verification takes it: assessed, and taken when allowed.
    const use = (keyId: string): boolean => {
      busy.limiter.assess(keyId, limits, Date.now(), busy.nextRecompute());
      return busy.limiter.take();
    };
    await eventually('the busy verifier has a share', () => use('key_warm'), Boolean);
    for (let k = 0; k < keys; k += 1) use(`key_${k}`);
    // A report that would hand the other verifier capacity that is not there: NaN and negative figures.
    const subject = verifierConsumptionSubject(ctx.topology.subjectPrefix);
    const now = Date.now();
    ctx.nc.publish(
      subject,
      JSON.stringify({
        instance: 'verifier-forged',
        at: now,
        previous: null,
        full: true,
        part: 0,
        parts: 1,
        counts: [['key_0', 3_600_000, now - (now % 3_600_000), -1_000_000, 0]],
      }),
    );
    ctx.nc.publish(
      subject,
      JSON.stringify({ instance: 'verifier-forged', at: now, previous: null, full: true, part: 0, parts: 1, counts: [['key_0', 3_600_000, 0]] }),
    );
    ctx.nc.publish(subject, 'not json');
    // The other verifier learns every window of the busy one, though they did not fit one message.
    await eventually(
      'the other verifier counts every window of the busy one',
      () => other.limiter.admittedIn(`key_${keys - 1}`, limits[0]!, Date.now()),
      (admitted) => admitted === 1,
      10_000,
    );
    expect(other.members()).not.toContain('verifier-forged');
  });

  it('opens a window it hears of only for a key it holds, with a limit of that length: a report naming any other opens nothing', async () => {
    const holder = start('verifier-holder');
    holder.limiter.resolveLimitsWith((keyId, windowMs) => (keyId === 'key_real' && windowMs === 3_600_000 ? 1_000_000 : undefined));
    const subject = verifierConsumptionSubject(ctx.topology.subjectPrefix);
    const listed: unknown[][] = [];
    const subscription = ctx.nc.subscribe(subject, {
      callback: (_error, message) => {
        const report = message.json<{ instance: string; counts: unknown[][] }>();
        if (report.instance === 'verifier-holder') listed.push(...report.counts);
      },
    });
    const now = Date.now();
    const hour = now - (now % 3_600_000);
    // Well formed, from a stranger: made-up keys and limit lengths would each cost every verifier a window.
    ctx.nc.publish(
      subject,
      JSON.stringify({
        instance: 'verifier-stranger',
        at: now,
        previous: null,
        full: true,
        part: 0,
        parts: 1,
        counts: [
          ['key_made_up', 3_600_000, hour, 5, 0],
          ['key_real', 60_000, now - (now % 60_000), 5, 0],
          ['key_real', 3_600_000, hour, 5, 0],
        ],
      }),
    );
    await eventually(
      'the holder lists the window of the key it holds',
      () => listed.some(([keyId, windowMs]) => keyId === 'key_real' && windowMs === 3_600_000),
      Boolean,
    );
    subscription.unsubscribe();
    expect(listed.filter(([keyId, windowMs]) => keyId !== 'key_real' || windowMs !== 3_600_000)).toEqual([]);
  });
});

describe('rate-limit sync when there is nothing to share', () => {
  let ctx: TestContext;
  const syncs: RateLimitSync[] = [];
  const reports: { instance: string; at: number; received: number }[] = [];
  const start = (instanceId: string, idleMemberTimeoutMs?: number): RateLimitSync => {
    const sync = new RateLimitSync(
      ctx.nc,
      {
        instanceId,
        subjectPrefix: ctx.topology.subjectPrefix,
        periodMs: 25,
        recomputeDelayMs: 5,
        memberTimeoutMs: 1000,
        idlePeriodMs: 250,
        idleMemberTimeoutMs,
      },
      ctx.logger,
    );
    sync.start();
    syncs.push(sync);
    return sync;
  };
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const reportsOf = (instance: string, since: number): number[] => reports.filter((r) => r.instance === instance && r.received >= since).map((r) => r.at);

  beforeAll(async () => {
    ctx = await createTestContext('ratesyncidle');
    ctx.nc.subscribe(verifierConsumptionSubject(ctx.topology.subjectPrefix), {
      callback: (error, message) => {
        if (error) return;
        const { instance, at } = message.json<{ instance: string; at: number }>();
        reports.push({ instance, at, received: Date.now() });
      },
    });
    await ctx.nc.flush();
  });
  afterAll(async () => {
    syncs.forEach((sync) => sync.stop());
    await ctx.close();
  });

  it('reports every idle period while idle, wakes on the first use and the others with it, and goes idle again when the window ends', async () => {
    const busy = start('verifier-a');
    const other = start('verifier-b');
    await eventually(
      'each hears the other',
      () => [busy.members().length, other.members().length],
      (m) => m[0] === 2 && m[1] === 2,
    );
    // Past the start-up ticks and the idle period after the last busy report.
    await sleep(600);
    const idleFrom = Date.now();
    await sleep(1000);
    // 40 reports a second each at the fast period; 4 at the idle one.
    expect(reportsOf('verifier-a', idleFrom).length).toBeLessThanOrEqual(6);
    expect(reportsOf('verifier-b', idleFrom).length).toBeLessThanOrEqual(6);

    const limits = [{ limit: 1000, windowMs: 1000 }];
    // Early in a window, so that it is still open when the other replica hears of the use.
    await eventually(
      'early in a one-second window',
      () => Date.now() % 1000,
      (ms) => ms < 300,
      2000,
    );
    const usedAt = Date.now();
    busy.limiter.assess('key_idle', limits, usedAt, busy.nextRecompute());
    busy.limiter.take();
    // The next report is the next fast tick, not the next idle one.
    const first = await eventually(
      'a report after the use',
      () => reportsOf('verifier-a', usedAt),
      (ats) => ats.length > 0,
      2000,
    );
    expect(first[0]! - usedAt).toBeLessThanOrEqual(25);
    // The other replica answers at the fast period too: a recompute waits for every member's report of its tick.
    await eventually(
      'the other replica ticks fast',
      () => reportsOf('verifier-b', usedAt).filter((at) => at % 250 !== 0),
      (ats) => ats.length >= 2,
      2000,
    );
    await eventually(
      'the other replica counts the use',
      () => other.limiter.admittedIn('key_idle', limits[0]!, usedAt),
      (n) => n === 1,
      2000,
    );

    // The window ends within a second; an idle period later both are idle again, not waking each other.
    await sleep(1500);
    const idleAgainFrom = Date.now();
    await sleep(1000);
    expect(reportsOf('verifier-a', idleAgainFrom).length).toBeLessThanOrEqual(6);
    expect(reportsOf('verifier-b', idleAgainFrom).length).toBeLessThanOrEqual(6);
  });

  it('keeps a replica that went quiet while all were idle as a member until there is something to share, then drops it within the membership timeout', async () => {
    const waking = start('verifier-c', 5000);
    const quiet = start('verifier-d', 5000);
    const live = start('verifier-e', 5000);
    await eventually(
      'each hears the others',
      () => waking.members(),
      (members) => ['verifier-d', 'verifier-e'].every((member) => members.includes(member)),
    );
    await sleep(600);
    quiet.stop();
    // Past the membership timeout (1 s), within the idle one (5 s): its last report said it was idle.
    await sleep(2000);
    expect(waking.members()).toEqual(expect.arrayContaining(['verifier-d', 'verifier-e']));

    const limits = [{ limit: 1000, windowMs: 60_000 }];
    waking.limiter.assess('key_wake', limits, Date.now(), waking.nextRecompute());
    waking.limiter.take();
    // A second after the wake, not three (the rest of the idle timeout): the live ones answered, the quiet one did not.
    await eventually(
      'the quiet replica dropped',
      () => waking.members(),
      (members) => !members.includes('verifier-d'),
      2500,
    );
    await sleep(1200);
    expect(waking.members()).toContain('verifier-e');
    expect(live.members()).not.toContain('verifier-d');
  });

  it('keeps a verifier that joined and went idle as a member of the others, with the default periods', async () => {
    const withDefaults = (instanceId: string): RateLimitSync => {
      const sync = new RateLimitSync(ctx.nc, { instanceId, subjectPrefix: ctx.topology.subjectPrefix, ...DEFAULT_RATE_LIMIT_SYNC }, ctx.logger);
      sync.start();
      syncs.push(sync);
      return sync;
    };
    const first = withDefaults('verifier-f');
    await sleep(1500);
    const joiner = withDefaults('verifier-g');
    await eventually(
      'the first hears the joiner',
      () => first.members(),
      (members) => members.includes('verifier-g'),
    );
    // The joiner's start-up reports are busy and it goes idle after them, while the first stays
    // awake an idle period (5 s) for having heard them: a membership timeout (1 s) counted from
    // its last busy report would drop it now.
    const sampledUntil = Date.now() + 3000;
    while (Date.now() < sampledUntil) {
      expect(first.members()).toContain('verifier-g');
      expect(joiner.members()).toContain('verifier-f');
      await sleep(50);
    }
    expect(first.limiter.warm && joiner.limiter.warm).toBe(true);
  });
});
