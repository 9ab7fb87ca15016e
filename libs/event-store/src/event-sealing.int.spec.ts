import type { TestContext } from '@keyledger/testing';
import { TEST_KEY_ID, createTestContext, insertEventBySql, testEvent } from '@keyledger/testing';
import { verifyEventChains } from './chain-verifier.js';
import { UnsealableStoreError, sealUnauthenticatedEvents, storePosition } from './event-sealing.js';
import { EventIntegrityError } from './event-store.errors.js';
import { NO_STREAM } from './postgres-event-store.js';

describe('sealing events stored before MACs', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await createTestContext('sealing');
  });
  afterEach(() => ctx.close());

  /** A store as it was before event MACs: rows with a chained hash and no MAC, below one sealed row. */
  async function olderStore(): Promise<void> {
    await ctx.store.append('key-s1', NO_STREAM, [testEvent({ n: 1 })]);
    for (const n of [2, 3])
      await insertEventBySql(ctx.ownerDb, { streamId: 'key-s1', type: 'KeyUpdated', data: { keyId: TEST_KEY_ID, metadata: { n: String(n) } } }, 'none');
    await insertEventBySql(ctx.ownerDb, { streamId: 'key-s2', type: 'KeySuspended', data: { keyId: TEST_KEY_ID } }, 'none');
  }

  it('gives every row without a MAC the MAC of its contents, once, after which every read accepts them', async () => {
    await olderStore();
    await expect(ctx.store.readStream('key-s1')).rejects.toBeInstanceOf(EventIntegrityError);
    expect(await sealUnauthenticatedEvents(ctx.ownerDb, ctx.auth.authenticator, { pageSize: 2 })).toMatchObject({ sealed: 3 });
    expect((await ctx.store.readStream('key-s1')).map((event) => event.streamVersion)).toEqual([1, 2, 3]);
    expect(await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator)).toMatchObject({ ok: true, eventsChecked: 4 });
    expect(await sealUnauthenticatedEvents(ctx.ownerDb, ctx.auth.authenticator)).toMatchObject({ sealed: 0 });
    // The table is append-only again afterwards.
    await expect(ctx.ownerDb.query(`update events set auth_mac = null`)).rejects.toThrow(/append-only/);
  });

  it('seals only rows at or below the position it started at: a row inserted by SQL later stays unsealed and is still found', async () => {
    await olderStore();
    const started = await storePosition(ctx.ownerDb);
    // While it runs: a writer appends (sealed as written), and a forger inserts a row without a MAC.
    await ctx.store.append('key-s3', NO_STREAM, [testEvent({ n: 5 })]);
    const forged = await insertEventBySql(ctx.ownerDb, { streamId: 'key-s1', type: 'KeyUpdated', data: { keyId: TEST_KEY_ID, metadata: { n: '4' } } }, 'none');
    expect(BigInt(forged.position)).toBeGreaterThan(BigInt(started));

    expect(await sealUnauthenticatedEvents(ctx.ownerDb, ctx.auth.authenticator, { through: started })).toEqual({ sealed: 3, through: started });
    const [row] = await ctx.ownerDb.query<{ unsealed: string[] }[]>(`select array_agg(position::text) as unsealed from events where auth_mac is null`);
    expect(row?.unsealed).toEqual([forged.position]);
    expect((await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator)).breaks).toEqual([
      expect.objectContaining({ position: forged.position, reason: 'mac-mismatch', detail: 'unsealed' }),
    ]);
    await expect(ctx.store.readStream('key-s1')).rejects.toBeInstanceOf(EventIntegrityError);
    // Run again from the same start, it seals nothing more.
    expect(await sealUnauthenticatedEvents(ctx.ownerDb, ctx.auth.authenticator, { through: started })).toEqual({ sealed: 0, through: started });
  });

  it('refuses to seal, changing nothing, when a row breaks its chain', async () => {
    await olderStore();
    await ctx.ownerDb.transaction(async (manager) => {
      await manager.query(`set local session_replication_role = replica`);
      await manager.query(`update events set data = jsonb_set(data, '{metadata,n}', '"20"') where stream_id = 'key-s1' and stream_version = 2`);
    });
    await expect(sealUnauthenticatedEvents(ctx.ownerDb, ctx.auth.authenticator)).rejects.toBeInstanceOf(UnsealableStoreError);
    const [row] = await ctx.ownerDb.query<{ unsealed: number }[]>(`select count(*)::int as unsealed from events where auth_mac is null`);
    expect(row?.unsealed).toBe(3);
  });
});
