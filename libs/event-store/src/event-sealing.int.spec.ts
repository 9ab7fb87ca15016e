import type { TestContext } from '@keyledger/testing';
import { TEST_KEY_ID, createTestContext, insertEventBySql, testEvent } from '@keyledger/testing';
import { verifyEventChains } from './chain-verifier.js';
import { UnsealableStoreError, sealUnauthenticatedEvents } from './event-sealing.js';
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
    for (const n of [2, 3]) await insertEventBySql(ctx.ownerDb, { streamId: 'key-s1', type: 'KeyUpdated', data: { keyId: TEST_KEY_ID, metadata: { n: String(n) } } }, 'none');
    await insertEventBySql(ctx.ownerDb, { streamId: 'key-s2', type: 'KeySuspended', data: { keyId: TEST_KEY_ID } }, 'none');
  }

  it('gives every row without a MAC the MAC of its contents, once, after which every read accepts them', async () => {
    await olderStore();
    await expect(ctx.store.readStream('key-s1')).rejects.toBeInstanceOf(EventIntegrityError);
    expect(await sealUnauthenticatedEvents(ctx.ownerDb, ctx.auth.authenticator, 2)).toBe(3);
    expect((await ctx.store.readStream('key-s1')).map((event) => event.streamVersion)).toEqual([1, 2, 3]);
    expect(await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator)).toMatchObject({ ok: true, eventsChecked: 4 });
    expect(await sealUnauthenticatedEvents(ctx.ownerDb, ctx.auth.authenticator)).toBe(0);
    // The table is append-only again afterwards.
    await expect(ctx.ownerDb.query(`update events set auth_mac = null`)).rejects.toThrow(/append-only/);
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
