import type { TestContext } from '@keyledger/testing';
import { TEST_KEY_ID, createTestContext, eventually, insertEventBySql, testEvent, testFields } from '@keyledger/testing';
import { ConcurrencyConflictError, EventIdConflictError, InvalidEventError } from './event-store.errors.js';
import { NO_STREAM } from './postgres-event-store.js';
import { START_OF_LOG } from './global-position.js';

describe('PostgresEventStore', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('store');
  });
  afterAll(() => ctx.close());

  it('appends to a new stream and reads it back with metadata and a chained hash', async () => {
    const result = await ctx.store.append('key-a1', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
    expect(result).toMatchObject({ nextExpectedVersion: 2, alreadyStored: false });
    const events = await ctx.store.readStream('key-a1');
    expect(events.map((e) => [e.streamVersion, testFields(e.data)])).toEqual([
      [1, { n: 1 }],
      [2, { n: 2 }],
    ]);
    expect(events[0]).toMatchObject({
      type: 'KeyUpdated',
      schemaVersion: 1,
      metadata: { actor: 'test:suite', correlationId: 'corr-test', causationId: 'cmd-test' },
    });
    expect(events[0]?.hash).not.toEqual(events[1]?.hash);
  });

  it('rejects a stale expected version with a typed error and writes nothing', async () => {
    await ctx.store.append('key-a2', NO_STREAM, [testEvent()]);
    const attempt = ctx.store.append('key-a2', NO_STREAM, [testEvent({ late: true })]);
    await expect(attempt).rejects.toBeInstanceOf(ConcurrencyConflictError);
    await expect(attempt).rejects.toMatchObject({ code: 'CONCURRENCY_CONFLICT', expectedVersion: 0, actualVersion: 1 });
    expect(await ctx.store.readStream('key-a2')).toHaveLength(1);
  });

  it('stores an event id once when the same append is repeated', async () => {
    const event = testEvent({ once: true }, { eventId: '0190a3f0-0000-7000-8000-000000000001' });
    const first = await ctx.store.append('key-a3', NO_STREAM, [event]);
    const again = await ctx.store.append('key-a3', NO_STREAM, [event]);
    expect(again).toMatchObject({ alreadyStored: true, nextExpectedVersion: 1, events: first.events });
    expect(await ctx.store.readStream('key-a3')).toHaveLength(1);
  });

  it('refuses an event id already used in another stream', async () => {
    const event = testEvent({}, { eventId: '0190a3f0-0000-7000-8000-000000000002' });
    await ctx.store.append('key-a4', NO_STREAM, [event]);
    await expect(ctx.store.append('key-a5', NO_STREAM, [event])).rejects.toBeInstanceOf(EventIdConflictError);
    expect(await ctx.store.readStream('key-a5')).toHaveLength(0);
  });

  it('refuses an event id reused for different content, or a known batch re-sent in another order', async () => {
    const first = testEvent({ n: 1 }, { eventId: '0190a3f0-0000-7000-8000-000000000003' });
    const second = testEvent({ n: 2 }, { eventId: '0190a3f0-0000-7000-8000-000000000004' });
    await ctx.store.append('key-a6', NO_STREAM, [first, second]);
    await expect(ctx.store.append('key-a6', NO_STREAM, [testEvent({ n: 99 }, { eventId: first.eventId! }), second])).rejects.toBeInstanceOf(
      EventIdConflictError,
    );
    await expect(ctx.store.append('key-a6', NO_STREAM, [second, first])).rejects.toBeInstanceOf(EventIdConflictError);
    expect((await ctx.store.readStream('key-a6')).map((e) => testFields(e.data))).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it.each([
    ['an event id that is not an RFC 9562 UUID', 'key-b1', NO_STREAM, [testEvent({}, { eventId: '12345678-1234-1234-1234-123456789abc' })]],
    ['a stream id longer than the bus accepts', `key-${'x'.repeat(201)}`, NO_STREAM, [testEvent()]],
    [
      'a tracestate with a line break',
      'key-b1',
      NO_STREAM,
      [testEvent({}, { metadata: { actor: 'a', correlationId: 'c', causationId: 'c', tracestate: 'a=1\r\nX: y' } })],
    ],
    ['an actor with a NUL', 'key-b1', NO_STREAM, [testEvent({}, { metadata: { actor: 'a\u0000', correlationId: 'c', causationId: 'c' } })]],
    ['a lone surrogate in data', 'key-b1', NO_STREAM, [testEvent({ s: '\ud800' })]],
    ['an event over 256 KiB', 'key-b1', NO_STREAM, [testEvent({ s: 'x'.repeat(300 * 1024) })]],
    ['a malformed stream id', 'no category', NO_STREAM, [testEvent()]],
    ['a negative expected version', 'key-b1', -1, [testEvent()]],
    ['an empty batch', 'key-b1', NO_STREAM, []],
    ['a lowercase event type', 'key-b1', NO_STREAM, [testEvent({}, { type: 'keyIssued' as never })]],
    ['metadata without an actor', 'key-b1', NO_STREAM, [testEvent({}, { metadata: { correlationId: 'c', causationId: 'c' } as never })]],
    ['a malformed traceparent', 'key-b1', NO_STREAM, [testEvent({}, { metadata: { actor: 'a', correlationId: 'c', causationId: 'c', traceparent: 'nope' } })]],
    ['data that is not an object', 'key-b1', NO_STREAM, [testEvent({}, { data: [1, 2] as never })]],
    ['a NUL character in data', 'key-b1', NO_STREAM, [testEvent({ s: 'a\u0000b' })]],
  ])('rejects %s as INVALID_EVENT and writes nothing', async (_what, streamId, version, events) => {
    await expect(ctx.store.append(streamId, version, events as never)).rejects.toBeInstanceOf(InvalidEventError);
    expect(await ctx.store.readStream('key-b1')).toHaveLength(0);
  });

  it('refuses an event type outside the closed set, writing none of its batch', async () => {
    const attempt = ctx.store.append('key-u1', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 }, { type: 'KeyExpired' as never })]);
    await expect(attempt).rejects.toBeInstanceOf(InvalidEventError);
    await expect(attempt).rejects.toThrow('event #1: "KeyExpired" is not an event type Keyledger records');
    expect(await ctx.store.readStream('key-u1')).toEqual([]);
  });

  it('accepts the literal text \\u0000, which is not a NUL character', async () => {
    await ctx.store.append('key-b2', NO_STREAM, [testEvent({ s: 'literally \\u0000' })]);
    expect(testFields((await ctx.store.readStream('key-b2'))[0]?.data)).toEqual({ s: 'literally \\u0000' });
  });

  it('reads the global log in (transaction_id, position) order from any position', async () => {
    // A batch long enough that positions cross a digit boundary (9 -> 10) within one transaction.
    await ctx.store.append(
      'key-order',
      NO_STREAM,
      Array.from({ length: 12 }, (_, n) => testEvent({ n })),
    );
    const all = await ctx.store.readAll(START_OF_LOG, 10_000).then((page) => page.events);
    expect(all.length).toBeGreaterThanOrEqual(17);
    const keys = all.map((e) => [BigInt(e.transactionId), BigInt(e.position)] as const);
    const sorted = [...keys].sort((a, b) => (a[0] === b[0] ? Number(a[1] - b[1]) : Number(a[0] - b[0])));
    expect(keys).toEqual(sorted);
    const third = all[2]!;
    const rest = await ctx.store.readAll(third, 10_000).then((page) => page.events);
    expect(rest.map((e) => e.eventId)).toEqual(all.slice(3).map((e) => e.eventId));
  });

  it('reads only the categories asked for, one or several', async () => {
    const head = (await ctx.store.readAll(START_OF_LOG, 10_000).then((page) => page.events)).at(-1)!;
    await ctx.store.append('key-cat1', NO_STREAM, [testEvent({ n: 1 })]);
    await ctx.store.append('credits-verifier-a', NO_STREAM, [testEvent({ n: 2 })]);
    await ctx.store.append('keys-cat3', NO_STREAM, [testEvent({ n: 3 })]);
    expect((await ctx.store.readPayloads(head, 100, 'key').then((page) => page.events)).map((e) => e.streamId)).toEqual(['key-cat1']);
    expect((await ctx.store.readPayloads(head, 100, ['key', 'credits']).then((page) => page.events)).map((e) => e.streamId)).toEqual([
      'key-cat1',
      'credits-verifier-a',
    ]);
    expect((await ctx.store.readAll(head, 100, ['credits']).then((page) => page.events)).map((e) => e.streamId)).toEqual(['credits-verifier-a']);
    await expect(ctx.store.readPayloads(head, 100, ['key', "x' or 1=1"]).then((page) => page.events)).rejects.toThrow(InvalidEventError);
  });

  it('does not read past a transaction that is still open, so a late commit is not skipped', async () => {
    const before = await ctx.store.readAll(START_OF_LOG, 10_000).then((page) => page.events);
    const head = before[before.length - 1]!;
    const runner = ctx.appDb.createQueryRunner();
    await runner.startTransaction();
    // Take a transaction id now, commit an event after a later transaction has committed.
    await runner.query(`select pg_current_xact_id()`);
    await ctx.store.append('key-c2', NO_STREAM, [testEvent({ order: 'later transaction' })]);
    expect(await ctx.store.readAll(head, 100).then((page) => page.events)).toEqual([]);
    // Written as the store writes (sealed under the context's event key), in the open transaction.
    const late = {
      eventId: '0190a3f0-0000-7000-8000-0000000000c1',
      streamId: 'key-c1',
      streamVersion: 1,
      type: 'KeySuspended',
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      data: { keyId: TEST_KEY_ID },
      metadata: { actor: 'a', correlationId: 'c', causationId: 'c' },
    };
    const mac = ctx.auth.authenticator.sealStored(late);
    await runner.query(
      `insert into events (event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash, auth_version, auth_mac)
       values ($1, $2, 1, $3, 1, $4, $5, $6, decode(repeat('00', 32), 'hex'), $7, $8)`,
      [late.eventId, late.streamId, late.type, JSON.stringify(late.data), JSON.stringify(late.metadata), late.occurredAt, mac.version, mac.mac],
    );
    await runner.commitTransaction();
    await runner.release();
    const after = await ctx.store.readAll(head, 100).then((page) => page.events);
    expect(after.map((e) => e.streamId)).toEqual(['key-c1', 'key-c2']);
  });

  it('lets exactly one of 8 concurrent writers win each version of one stream', async () => {
    const streamId = 'key-race';
    const rounds = 25;
    let conflicts = 0;
    for (let version = 0; version < rounds; version += 1) {
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, writer) => ctx.store.append(streamId, version, [testEvent({ writer, version })])));
      const winners = results.filter((r) => r.status === 'fulfilled');
      const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(winners).toHaveLength(1);
      expect(losers.every((r) => r.reason instanceof ConcurrencyConflictError)).toBe(true);
      conflicts += losers.length;
    }
    const stream = await ctx.store.readStream(streamId);
    expect(stream.map((e) => e.streamVersion)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
    expect(conflicts).toBe(rounds * 7);
  });

  it('names as authentic head the newest event a reader accepts, passing over rows inserted without the event key', async () => {
    const { events } = await ctx.store.append('key-head1', NO_STREAM, [testEvent({ n: 1 })]);
    expect(await ctx.store.authenticHeadPosition()).toEqual({ transactionId: events[0]!.transactionId, position: events[0]!.position });
    // A row nobody sealed at the end: never published, so no projection could reach it.
    await insertEventBySql(ctx.ownerDb, { streamId: 'key-head1', type: 'KeyUpdated', data: { keyId: TEST_KEY_ID, metadata: {} } }, 'none');
    expect(await ctx.store.headPosition()).not.toEqual(await ctx.store.authenticHeadPosition());
    expect(await ctx.store.authenticHeadPosition()).toEqual({ transactionId: events[0]!.transactionId, position: events[0]!.position });
    // Asked again and again (the heartbeat asks every second), it follows new appends.
    const { events: later } = await ctx.store.append('key-head2', NO_STREAM, [testEvent({ n: 2 })]);
    expect(await ctx.store.authenticHeadPosition()).toEqual({ transactionId: later[0]!.transactionId, position: later[0]!.position });
    expect(await ctx.store.authenticHeadPosition()).toEqual({ transactionId: later[0]!.transactionId, position: later[0]!.position });
  });

  it('checks the head again when the row it checked last was changed by hand, not only when the head moved', async () => {
    const { events: before } = await ctx.store.append('key-head3', NO_STREAM, [testEvent({ n: 1 })]);
    const { events } = await ctx.store.append('key-head4', NO_STREAM, [testEvent({ n: 2 })]);
    expect(await ctx.store.authenticHeadPosition()).toEqual({ transactionId: events[0]!.transactionId, position: events[0]!.position });
    // The schema owner can switch the append-only trigger off: the row checked is edited in place.
    await ctx.ownerDb.transaction(async (tx) => {
      await tx.query(`alter table events disable trigger events_append_only`);
      await tx.query(`update events set data = jsonb_set(data, '{n}', '3') where event_id = $1`, [events[0]!.eventId]);
      await tx.query(`alter table events enable trigger events_append_only`);
    });
    expect(await ctx.store.authenticHeadPosition()).toEqual({ transactionId: before[0]!.transactionId, position: before[0]!.position });
  });

  it('says the head is held back while an older transaction runs and an event committed after it waits past the horizon', async () => {
    await ctx.store.append('key-hold1', NO_STREAM, [testEvent({ n: 1 })]);
    const older = ctx.appDb.createQueryRunner();
    await older.connect();
    let later: { transactionId: string; position: string } | undefined;
    try {
      await older.startTransaction();
      await older.query('select pg_current_xact_id()');
      later = (await ctx.store.append('key-hold2', NO_STREAM, [testEvent({ n: 2 })])).events[0]!;
      const read = await ctx.store.heartbeatHead();
      expect(read?.heldBack).toBe(true);
      // The head stops before the older transaction: the later event is committed but not readable.
      expect(read?.head.transactionId).not.toBe(later.transactionId);
      // The later event's transaction is past the horizon, and was committed when the snapshot was taken.
      expect(read!.horizon).toBeLessThanOrEqual(BigInt(later.transactionId));
      expect(read!.snapshotEnd).toBeGreaterThan(BigInt(later.transactionId));
    } finally {
      await older.rollbackTransaction();
      await older.release();
    }
    // Another suite's transaction on the shared server may hold the horizon for a moment too.
    await eventually(
      'the head reaches the later event once the older transaction ends',
      () => ctx.store.heartbeatHead(),
      (read) => read?.heldBack === false && read.head.position === later.position,
    );
  });
});
