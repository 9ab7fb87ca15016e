import { MAX_CONSUMPTION_ENTRIES_PER_MESSAGE, verifierConsumptionSubject } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { RateLimitSync } from './rate-limit-sync.js';

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
});
