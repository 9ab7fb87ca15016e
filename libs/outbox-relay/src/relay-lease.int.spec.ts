import { EVENTS_CHANNEL } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { RelayLease } from './relay-lease.js';

describe('RelayLease', () => {
  let ctx: TestContext;
  const leases: RelayLease[] = [];
  const lease = (ttlMs = 60_000, renewIntervalMs = 200): RelayLease => {
    const made = new RelayLease({ databaseUrl: ctx.databaseUrl, schema: ctx.schema, relayName: 'events', logger: ctx.logger, ttlMs, renewIntervalMs });
    leases.push(made);
    return made;
  };
  const row = async (): Promise<{ holder: string; epoch: string; holder_pid: number }> => {
    const [found] = await ctx.ownerDb.query<{ holder: string; epoch: string; holder_pid: number }[]>(
      `select holder, epoch::text, holder_pid from relay_leases`,
    );
    return found!;
  };

  beforeEach(async () => {
    ctx = await createTestContext('lease');
  });
  afterEach(async () => {
    await Promise.all(leases.splice(0).map((made) => made.release()));
    await ctx.close();
  });

  it('is held by one relay at a time, and given up at once on release', async () => {
    const first = lease();
    const second = lease();
    expect(await first.tryAcquire(EVENTS_CHANNEL)).toBe(true);
    expect(await second.tryAcquire(EVENTS_CHANNEL)).toBe(false);
    expect(await first.tryAcquire(EVENTS_CHANNEL)).toBe(true);
    await first.release();
    expect(await second.tryAcquire(EVENTS_CHANNEL)).toBe(true);
    expect(second.heldEpoch).toBe('2');
  });

  it('is taken at once from a holder whose database session is gone, before the lease runs out', async () => {
    const first = lease();
    const second = lease();
    expect(await first.tryAcquire(EVENTS_CHANNEL)).toBe(true);
    await ctx.ownerDb.query(`select pg_terminate_backend($1)`, [(await row()).holder_pid]);
    await eventually('the terminated session to be gone', () => second.tryAcquire(EVENTS_CHANNEL), Boolean);
  });

  it('is taken once it runs out, and the deposed holder learns it at its next renewal and never renews the new lease', async () => {
    const first = lease(60_000, 100);
    const second = lease();
    expect(await first.tryAcquire(EVENTS_CHANNEL)).toBe(true);
    // As if the holder had been frozen past its lease: the database clock says it ran out. The
    // holder is not frozen, so a renewal of its own can come between the two statements and
    // extend the lease nobody took yet: then it runs out again and the other tries again.
    await eventually(
      'the lease taken once it ran out',
      async () => {
        await ctx.ownerDb.query(`update relay_leases set expires_at = clock_timestamp() - interval '1 second'`);
        return second.tryAcquire(EVENTS_CHANNEL);
      },
      Boolean,
      5000,
    );
    const taken = await row();
    await eventually(
      'the deposed holder to stop believing it leads',
      () => first.isHeld,
      (held) => !held,
      5000,
    );
    expect(await first.tryAcquire(EVENTS_CHANNEL)).toBe(false);
    expect(await row()).toEqual(taken);
    expect(second.isHeld).toBe(true);
  });

  it('stops being held by its own clock when renewals stop succeeding, before the database lets another take it', async () => {
    const first = lease(800, 200);
    expect(await first.tryAcquire(EVENTS_CHANNEL)).toBe(true);
    // Every renewal now fails: the session is cut and no new one is made until the next tryAcquire.
    await ctx.ownerDb.query(`select pg_terminate_backend($1)`, [(await row()).holder_pid]);
    await eventually(
      'the lease to lapse by the holder clock',
      () => first.isHeld,
      (held) => !held,
      5000,
    );
  });

  it('refuses a renewal interval that is not shorter than the lease', () => {
    expect(
      () => new RelayLease({ databaseUrl: ctx.databaseUrl, schema: ctx.schema, relayName: 'x', logger: ctx.logger, ttlMs: 1000, renewIntervalMs: 1000 }),
    ).toThrow(RangeError);
  });
});
