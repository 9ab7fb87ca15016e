import type { TestContext } from '@keyledger/testing';
import { createTestContext, testEvent } from '@keyledger/testing';
import { ChainCheck } from './chain-check.js';
import { verifyEventChains } from './chain-verifier.js';
import type { EventRow } from './event-row.js';
import { SELECT_EVENT } from './event-row.js';
import { NO_STREAM } from './postgres-event-store.js';

/** Three streams of three events each, appended in turns: every stream runs across any split of the log in two. */
describe('chain check over ranges of the log', () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = await createTestContext('chainrange');
    for (let version = 0; version < 3; version += 1)
      for (const stream of ['key-r1', 'key-r2', 'key-r3']) await ctx.store.append(stream, version === 0 ? NO_STREAM : version, [testEvent({ n: version })]);
  });
  afterEach(() => ctx.close());

  const rowsInLogOrder = (): Promise<EventRow[]> => ctx.ownerDb.query<EventRow[]>(`select ${SELECT_EVENT} from events order by events.position`);
  const asSuperuser = (sql: string, position: string): Promise<unknown> =>
    ctx.ownerDb.transaction(async (tx) => {
      await tx.query(`set local session_replication_role = replica`);
      await tx.query(sql, [position]);
    });
  /** Checks the log in two ranges, each with a check of its own that knows nothing of the other's rows, as separate workers do. */
  const inTwoRanges = async (rows: readonly EventRow[], split: number, rememberedStreams?: number): Promise<{ first: ChainCheck; second: ChainCheck }> => {
    const first = new ChainCheck(ctx.ownerDb, ctx.auth.authenticator, rememberedStreams);
    const second = new ChainCheck(ctx.ownerDb, ctx.auth.authenticator, rememberedStreams);
    await first.check(rows.slice(0, split));
    await second.check(rows.slice(split));
    return { first, second };
  };

  it('passes an untouched log checked in two ranges apart, each stream counted once', async () => {
    const { first, second } = await inTwoRanges(await rowsInLogOrder(), 4);
    expect(first.report()).toEqual({ ok: true, streamsChecked: 3, eventsChecked: 4, breaks: [] });
    expect(second.report()).toEqual({ ok: true, streamsChecked: 0, eventsChecked: 5, breaks: [] });
  });

  it('finds a row edited just after a range boundary, whose predecessor is in the range before, at its position', async () => {
    const rows = await rowsInLogOrder();
    // The second range starts with key-r2's second event; its first is in the first range.
    const target = rows[4]!;
    expect({ stream: target.stream_id, version: target.stream_version }).toEqual({ stream: 'key-r2', version: 2 });
    await asSuperuser(`update events set data = jsonb_set(data, '{metadata,n}', '"9"') where position = $1`, target.position);
    const { first, second } = await inTwoRanges(await rowsInLogOrder(), 4);
    expect(first.report().breaks).toEqual([]);
    expect(second.report().breaks).toEqual([{ streamId: 'key-r2', streamVersion: 2, position: target.position, reason: 'hash-mismatch' }]);
  });

  it('finds a row removed from the range before at the event that follows it', async () => {
    const rows = await rowsInLogOrder();
    const [removed, next] = [rows[1]!, rows[4]!];
    await asSuperuser(`delete from events where position = $1`, removed.position);
    const { first, second } = await inTwoRanges(await rowsInLogOrder(), 3);
    expect(first.report().breaks).toEqual([]);
    expect(second.report().breaks).toEqual([{ streamId: 'key-r2', streamVersion: 2, position: next.position, reason: 'missing-previous-event' }]);
    // A stream whose first rows are gone still counts once, at its lowest row.
    expect(first.report().streamsChecked + second.report().streamsChecked).toBe(3);
  });

  it('remembers one stream at a time and still finds every break, as with every stream remembered', async () => {
    const rows = await rowsInLogOrder();
    await asSuperuser(`update events set data = jsonb_set(data, '{metadata,n}', '"9"') where position = $1`, rows[7]!.position);
    await asSuperuser(`delete from events where position = $1`, rows[2]!.position);
    const forgetful = new ChainCheck(ctx.ownerDb, ctx.auth.authenticator, 1);
    await forgetful.check(await rowsInLogOrder());
    expect(forgetful.report()).toEqual(await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator));
    expect(forgetful.report().breaks).toEqual([
      { streamId: 'key-r3', streamVersion: 2, position: rows[5]!.position, reason: 'missing-previous-event' },
      { streamId: 'key-r2', streamVersion: 3, position: rows[7]!.position, reason: 'hash-mismatch' },
    ]);
  });

  it('names a row whose MAC is wrong though its hash chains, after the chain checks', async () => {
    const rows = await rowsInLogOrder();
    await asSuperuser(`update events set auth_mac = decode(repeat('00', 32), 'hex') where position = $1`, rows[6]!.position);
    const { second } = await inTwoRanges(await rowsInLogOrder(), 5);
    expect(second.report().breaks).toEqual([{ streamId: 'key-r1', streamVersion: 3, position: rows[6]!.position, reason: 'mac-mismatch', detail: 'bad-mac' }]);
  });

  it('names a row whose stored hash was cut short, and the row chained onto it, rather than failing', async () => {
    const rows = await rowsInLogOrder();
    // key-r1's second event (rows[3]); its third (rows[6]) chains onto it, in the other range.
    // The table refuses such a hash: whoever can drop its check can write one.
    await ctx.ownerDb.query(`alter table events drop constraint events_hash_check`);
    await asSuperuser(`update events set hash = substring(hash from 1 for 31) where position = $1`, rows[3]!.position);
    const { first, second } = await inTwoRanges(await rowsInLogOrder(), 5);
    expect(first.report().breaks).toEqual([{ streamId: 'key-r1', streamVersion: 2, position: rows[3]!.position, reason: 'hash-mismatch' }]);
    expect(second.report().breaks).toEqual([{ streamId: 'key-r1', streamVersion: 3, position: rows[6]!.position, reason: 'hash-mismatch' }]);
  });
});
