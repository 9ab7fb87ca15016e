import type { KeyUsed, UsageBatch } from '@keyledger/contracts';
import { jest } from '@jest/globals';
import { expandUsageBatch, usageBatchSchema } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import type { TestContext } from '@keyledger/testing';
import type { DataSource } from 'typeorm';
import { createTestContext, eventually } from '@keyledger/testing';
import { RetentionPutOffError, UsageLedger } from './usage-ledger.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2030, 0, 15, 10, 0, 0);
const KEY_A = newPrefixedId('key');
const KEY_B = newPrefixedId('key');

const used = (overrides: Partial<KeyUsed> = {}): KeyUsed => ({
  keyId: KEY_A,
  tenant: 'acme',
  at: T0,
  ip: '10.0.0.1',
  scopes: ['orders:read'],
  code: 'VALID',
  cost: 0,
  transport: 'http',
  ...overrides,
});
const batch = (records: KeyUsed[], createdAt = T0): UsageBatch =>
  usageBatchSchema.parse({ schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-a', createdAt, records });

/** Sessions waiting for a lock on this table of the connection's schema. */
async function waitersFor(db: DataSource, table: string): Promise<number> {
  const [row] = await db.query<{ n: number }[]>(
    `select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation
     where not l.granted and c.relname = $1 and c.relnamespace = current_schema()::regnamespace`,
    [table],
  );
  return row!.n;
}

describe('usage ledger', () => {
  let ctx: TestContext;
  let ledger: UsageLedger;

  beforeAll(async () => {
    ctx = await createTestContext('usageledger');
    ledger = new UsageLedger(ctx.appDb);
  });
  afterAll(() => ctx.close());

  it('stores records in the partition of their day and aggregates them per key, minute, code and source', async () => {
    const first = batch([
      used(),
      used({ at: T0 + 1000, ip: '10.0.0.2', scopes: [] }),
      used({ at: T0 + 61_000, code: 'INSUFFICIENT_PERMISSIONS', cost: 0 }),
      used({ keyId: undefined, fingerprint: '0123456789abcdef', at: T0 + 2000, code: 'NOT_FOUND', ip: '192.0.2.9' }),
      used({ keyId: KEY_B, at: T0 + 3600_000, cost: 5, transport: 'grpc' }),
    ]);
    expect(await ledger.ingest([first])).toEqual({ stored: 1, duplicates: 0, duplicateIds: [], records: 5 });

    const rows = await ctx.ownerDb.query<{ partition: string; key_id: string | null; scopes: string[] }[]>(
      `select tableoid::regclass::text as partition, key_id, fingerprint, scopes, seq from usage_records order by seq`,
    );
    // Records of known keys only: a string that named no key is counted, not stored.
    expect(rows.map((r) => r.partition)).toEqual(Array(4).fill('usage_records_20300115'));
    expect(rows[0]!.scopes).toEqual(['orders:read']);
    expect(rows[1]!.scopes).toEqual([]);
    expect(rows.map((r) => r.key_id)).toEqual([KEY_A, KEY_A, KEY_A, KEY_B]);
    expect(await ctx.ownerDb.query(`select minute, ip, fingerprint, tenant, code, transport, calls::int from usage_unknown_minutes`)).toEqual([
      { minute: new Date(T0), ip: '192.0.2.9', fingerprint: '0123456789abcdef', tenant: 'acme', code: 'NOT_FOUND', transport: 'http', calls: 1 },
    ]);

    const window = { since: T0 - DAY, until: T0 + DAY };
    const byMinute = await ledger.keyUsage(KEY_A, 'acme', window, 'minute');
    expect(byMinute.totals).toEqual({ calls: 3, valid: 2, invalid: 1, cost: 0 });
    expect(byMinute.buckets).toEqual([
      { start: '2030-01-15T10:00:00.000Z', calls: 2, valid: 2, invalid: 0, cost: 0, codes: { VALID: 2 } },
      { start: '2030-01-15T10:01:00.000Z', calls: 1, valid: 0, invalid: 1, cost: 0, codes: { INSUFFICIENT_PERMISSIONS: 1 } },
    ]);
    expect(byMinute.lastUsedAt).toBe(new Date(T0 + 61_000).toISOString());
    expect(byMinute.topSources).toEqual([
      { ip: '10.0.0.1', calls: 2, invalid: 1 },
      { ip: '10.0.0.2', calls: 1, invalid: 0 },
    ]);
    const byDay = await ledger.keyUsage(KEY_A, 'acme', window, 'day');
    expect(byDay.buckets).toEqual([
      { start: '2030-01-15T00:00:00.000Z', calls: 3, valid: 2, invalid: 1, cost: 0, codes: { VALID: 2, INSUFFICIENT_PERMISSIONS: 1 } },
    ]);

    const tenant = await ledger.tenantUsage('acme', window, 10);
    expect(tenant.totals).toEqual({ calls: 4, valid: 3, invalid: 1, cost: 5 });
    expect(tenant.topKeys.map((k) => [k.keyId, k.calls])).toEqual([
      [KEY_A, 3],
      [KEY_B, 1],
    ]);
    // Unknown keys count among the tenant's sources: that is where abuse shows.
    expect(tenant.topSources).toEqual([
      { ip: '10.0.0.1', calls: 3, invalid: 1 },
      { ip: '10.0.0.2', calls: 1, invalid: 0 },
      { ip: '192.0.2.9', calls: 1, invalid: 1 },
    ]);
  });

  it('stores a version 2 batch as it stores the version 1 batch of the same records, and either once', async () => {
    const [one, two] = [newPrefixedId('key'), newPrefixedId('key')];
    const grouped = (keyId: string): UsageBatch =>
      usageBatchSchema.parse({
        schemaVersion: 2,
        batchId: newPrefixedId('ub'),
        instance: 'verifier-a',
        createdAt: T0 + 70_000,
        since: T0,
        groups: [
          { keyId, tenant: 'acme', ip: '10.0.0.1', scopes: ['orders:read', 'orders:write'], code: 'VALID', cost: 2, transport: 'http', at: [0, 5, 5, 61_000] },
          { keyId, tenant: 'acme', scopes: [], code: 'INSUFFICIENT_PERMISSIONS', cost: 0, transport: 'grpc', at: [1, 3_600_000] },
          { keyId, tenant: 'acme', ip: '10.0.0.2', scopes: ['orders:*'], code: 'VALID', cost: 0, transport: 'nats', at: [2] },
        ],
      });
    const v2 = grouped(two);
    const v1 = usageBatchSchema.parse({
      schemaVersion: 1,
      batchId: newPrefixedId('ub'),
      instance: 'verifier-a',
      createdAt: T0 + 70_000,
      records: expandUsageBatch(grouped(one)),
    });
    expect(await ledger.ingest([v1, v2])).toEqual({ stored: 2, duplicates: 0, duplicateIds: [], records: 14 });
    expect(await ledger.ingest([v2])).toMatchObject({ stored: 0, duplicates: 1, records: 0 });

    const rows = (keyId: string) =>
      ctx.ownerDb.query<Record<string, unknown>[]>(
        `select tableoid::regclass::text as partition, at, seq, tenant, ip, scopes, code, cost, transport, instance from usage_records where key_id = $1 order by seq`,
        [keyId],
      );
    const stored = await rows(two);
    expect(stored).toHaveLength(7);
    expect(stored.map((row) => [(row['at'] as Date).getTime() - T0, row['seq'], row['ip'], row['scopes']])).toEqual([
      [0, 0, '10.0.0.1', ['orders:read', 'orders:write']],
      [5, 1, '10.0.0.1', ['orders:read', 'orders:write']],
      [5, 2, '10.0.0.1', ['orders:read', 'orders:write']],
      [61_000, 3, '10.0.0.1', ['orders:read', 'orders:write']],
      [1, 4, null, []],
      [3_600_000, 5, null, []],
      [2, 6, '10.0.0.2', ['orders:*']],
    ]);
    expect(await rows(one)).toEqual(stored);
    const window = { since: T0 - DAY, until: T0 + DAY };
    const usage = async (keyId: string) => {
      const { keyId: _named, ...rest } = await ledger.keyUsage(keyId, 'acme', window, 'minute');
      return rest;
    };
    expect((await usage(two)).totals).toEqual({ calls: 7, valid: 5, invalid: 2, cost: 8 });
    expect(await usage(one)).toEqual(await usage(two));
  });

  it('stores addresses, scopes and instance names exactly as recorded, whatever characters they hold', async () => {
    const key = newPrefixedId('key');
    const odd = ['say "hi"', 'c:\\d\\', 'a,b', '{x}', 'NULL', ' spaced ', 'é ✓', '', 'null', '\\u0000', '\n\t', '\u{1f600}'];
    const stored = usageBatchSchema.parse({
      schemaVersion: 2,
      batchId: newPrefixedId('ub'),
      instance: 'verifier "b" \\ {1}',
      createdAt: T0,
      since: T0,
      groups: odd.map((text, i) => ({
        keyId: key,
        tenant: 'acme',
        ip: text,
        scopes: [text, 'orders:read'],
        code: 'VALID',
        cost: 0,
        transport: 'http',
        at: [i],
      })),
    });
    expect(await ledger.ingest([stored])).toMatchObject({ stored: 1, records: odd.length });
    const rows = await ctx.ownerDb.query<{ ip: string; scopes: string[]; instance: string }[]>(
      `select ip, scopes, instance from usage_records where key_id = $1 order by seq`,
      [key],
    );
    expect(rows).toEqual(odd.map((text) => ({ ip: text, scopes: [text, 'orders:read'], instance: 'verifier "b" \\ {1}' })));
  });

  it('stores a lone surrogate (a request’s broken UTF-16) as U+FFFD, as UTF-8 writes it, rather than fail the batch', async () => {
    const key = newPrefixedId('key');
    const broken = usageBatchSchema.parse({
      schemaVersion: 1,
      batchId: newPrefixedId('ub'),
      instance: 'verifier-a',
      createdAt: T0,
      records: [used({ keyId: key, ip: 'a\ud800b', scopes: ['\udc00'] })],
    });
    expect(await ledger.ingest([broken])).toMatchObject({ stored: 1, records: 1 });
    expect(await ctx.ownerDb.query(`select ip, scopes from usage_records where key_id = $1`, [key])).toEqual([{ ip: 'a\ufffdb', scopes: ['\ufffd'] }]);
  });

  it('counts a redelivered batch once, also when it comes again with new batches', async () => {
    const key = newPrefixedId('key');
    const once = batch([used({ keyId: key }), used({ keyId: key, at: T0 + 10 })]);
    const other = batch([used({ keyId: key, at: T0 + 20 })]);
    expect(await ledger.ingest([once])).toEqual({ stored: 1, duplicates: 0, duplicateIds: [], records: 2 });
    expect(await ledger.ingest([once, other])).toEqual({ stored: 1, duplicates: 1, duplicateIds: [once.batchId], records: 1 });
    expect(await ledger.ingest([other, once])).toEqual({ stored: 0, duplicates: 2, duplicateIds: [other.batchId, once.batchId], records: 0 });
    const usage = await ledger.keyUsage(key, 'acme', { since: T0 - DAY, until: T0 + DAY }, 'hour');
    expect(usage.totals.calls).toBe(3);
    const [{ count }] = await ctx.ownerDb.query(`select count(*)::int as count from usage_records where key_id = $1`, [key]);
    expect(count).toBe(3);
  });

  it('stores two deliveries of one batch racing in parallel once', async () => {
    const key = newPrefixedId('key');
    const twice = batch(Array.from({ length: 100 }, (_, i) => used({ keyId: key, at: T0 + i })));
    const results = await Promise.all([ledger.ingest([twice]), new UsageLedger(ctx.appDb).ingest([twice])]);
    expect(results.map((r) => r.stored).sort()).toEqual([0, 1]);
    expect((await ledger.keyUsage(key, 'acme', { since: T0 - DAY, until: T0 + DAY }, 'day')).totals.calls).toBe(100);
  });

  it('creates the partitions a batch needs, and drops whole days that are over for retention, never today or later', async () => {
    const later = T0 + 40 * DAY;
    await ledger.ingest([batch([used({ at: later }), used({ at: T0 - 3 * DAY })], later)]);
    const partitions = async (table = 'usage_records'): Promise<string[]> =>
      (
        await ctx.ownerDb.query<{ relname: string }[]>(
          `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
           where p.relname = $1 and p.relnamespace = current_schema()::regnamespace order by 1`,
          [table],
        )
      ).map((r) => r.relname);
    // Only the days present: not the 43 days between the two records.
    expect((await partitions()).filter((name) => name >= 'usage_records_2030')).toEqual([
      'usage_records_20300112',
      'usage_records_20300115',
      'usage_records_20300224',
    ]);
    const tables = ['usage_records', 'usage_batches', 'usage_key_minutes', 'usage_source_hours', 'usage_unknown_minutes'];
    const day = (at: number): string => new Date(at).toISOString().slice(0, 10).replaceAll('-', '');
    const today = day(Date.now());
    // Three days ago: a day that is over, which retention may drop.
    const past = Date.now() - 3 * DAY;
    await ledger.ingest([batch([used({ at: past })], past)]);
    const all = async (): Promise<string[]> => (await Promise.all(tables.map(partitions))).flat();
    expect((await all()).filter((name) => name.endsWith(day(past)))).toHaveLength(5);
    // Asked to drop everything before 2030, it drops only the days that are over: never today,
    // the week the migration created ahead, or 2030.
    expect(await ledger.dropPartitionsBefore(T0)).toBe(5);
    const left = await all();
    expect(left.filter((name) => name.slice(-8) < today)).toEqual([]);
    expect(left.filter((name) => name.endsWith(today))).toHaveLength(5);
    expect(await partitions()).toEqual(expect.arrayContaining(['usage_records_20300112', 'usage_records_20300115', 'usage_records_20300224']));
    // The services' role cannot reach the unbounded function behind it.
    await expect(ctx.appDb.query(`select usage_drop_partitions_unbounded('2099-01-01')`)).rejects.toThrow(/permission denied/);
    // A day dropped and then written to again gets its partition back.
    await ledger.ingest([batch([used({ at: past })])]);
    expect(await partitions()).toContain(`usage_records_${day(past)}`);
  });

  it("updates a key's aggregates in place: their partitions keep half of each page free, so no update adds an index entry", async () => {
    const day = Date.UTC(2030, 1, 1, 12, 0, 0);
    const keys = Array.from({ length: 300 }, () => newPrefixedId('key'));
    const window = (offset: number): UsageBatch =>
      batch(
        keys.map((keyId, i) => used({ keyId, at: day + offset + i })),
        day + offset,
      );
    await ledger.ingest([window(0)]);
    await ledger.aggregatePending();
    await ledger.ingest([window(1000)]);
    await ledger.aggregatePending();
    const fillfactors = await ctx.ownerDb.query<{ relname: string; reloptions: string[] | null }[]>(
      `select relname, reloptions from pg_class where relnamespace = current_schema()::regnamespace and relname in
         ('usage_key_minutes_20300201', 'usage_source_hours_20300201', 'usage_unknown_minutes_20300201', 'usage_keys', 'usage_records_20300201')
       order by relname`,
    );
    expect(fillfactors).toEqual([
      { relname: 'usage_key_minutes_20300201', reloptions: ['fillfactor=50'] },
      { relname: 'usage_keys', reloptions: ['fillfactor=50'] },
      { relname: 'usage_records_20300201', reloptions: null },
      { relname: 'usage_source_hours_20300201', reloptions: ['fillfactor=50'] },
      { relname: 'usage_unknown_minutes_20300201', reloptions: ['fillfactor=50'] },
    ]);
    // Each key's minute and source row was updated once, and (nearly) every update went beside
    // the row it replaced (HOT). With full pages none did: the new versions went to other pages.
    await eventually(
      'the updates counted',
      async () =>
        ctx.ownerDb.query<{ relname: string; updated: number; hot: number }[]>(
          `select relname, n_tup_upd::int as updated, n_tup_hot_upd::int as hot from pg_stat_user_tables
           where schemaname = current_schema() and relname in ('usage_key_minutes_20300201', 'usage_source_hours_20300201') order by relname`,
        ),
      (rows) => rows.length === 2 && rows.every((row) => row.updated === 300),
    ).then((rows) => {
      expect(Math.min(...rows.map((row) => row.hot / row.updated))).toBeGreaterThanOrEqual(0.9);
    });
  });

  it('folds stored batches into the aggregates once, however many folds run at the same time', async () => {
    const key = newPrefixedId('key');
    const minute = T0 + 20 * 60_000;
    const batches = Array.from({ length: 30 }, (_, b) => batch(Array.from({ length: 50 }, (__, i) => used({ keyId: key, at: minute + b * 100 + i }))));
    for (const part of [batches.slice(0, 10), batches.slice(10, 20), batches.slice(20)]) await ledger.ingest(part);
    const calls = async (): Promise<number> => {
      const [row] = await ctx.ownerDb.query<{ calls: number }[]>(`select coalesce(sum(calls), 0)::int as calls from usage_key_minutes where key_id = $1`, [
        key,
      ]);
      return row!.calls;
    };
    // Stored, not yet folded: the aggregates do not have them.
    expect(await calls()).toBe(0);
    const ledgers = [ledger, new UsageLedger(ctx.appDb), new UsageLedger(ctx.appDb)];
    const folded = await Promise.all([
      ledgers[0]!.aggregatePending(false, 4),
      ledgers[1]!.aggregatePending(true, 3),
      ledgers[2]!.aggregatePending(true, 7),
      ledgers[0]!.aggregatePending(false, 5),
    ]);
    expect(folded.reduce((sum, n) => sum + n, 0)).toBeGreaterThanOrEqual(1500);
    expect(await calls()).toBe(1500);
    const [last] = await ctx.ownerDb.query<{ last_used_at: Date }[]>(`select last_used_at from usage_keys where key_id = $1`, [key]);
    expect(last!.last_used_at.getTime()).toBe(minute + 29 * 100 + 49);
    // A query folds what is pending before it reads: it answers from everything stored.
    await ledger.ingest([batch([used({ keyId: key, at: minute + 5000 })])]);
    expect((await ledger.keyUsage(key, 'acme', { since: T0 - DAY, until: T0 + DAY }, 'day')).totals.calls).toBe(1501);
  });

  it('folds into each aggregate exactly what its records sum to, across tenants, sources, minutes, hours and codes', async () => {
    // Records drawn at random over a few keys of two tenants, a handful of sources, three hours
    // and several codes; folded 3 batches at a time; then each aggregate is compared with
    // the same sums taken straight from usage_records.
    const next = (n: number): number => Math.floor(Math.random() * n);
    const keys = Array.from({ length: 5 }, () => newPrefixedId('key'));
    const keyOf = (i: number) => ({ keyId: keys[i]!, tenant: i % 2 === 0 ? 'acme' : 'acme-other' });
    const codes = ['VALID', 'VALID', 'INSUFFICIENT_PERMISSIONS', 'RATE_LIMITED', 'EXPIRED'] as const;
    const hour = Date.UTC(2030, 4, 6, 9, 0, 0);
    const batches = Array.from({ length: 20 }, () =>
      batch(
        Array.from({ length: 200 }, () =>
          used({
            ...keyOf(next(keys.length)),
            ip: next(5) === 0 ? undefined : `10.1.0.${next(4)}`,
            // Each hour's first two minutes and its last, so many records share a group and an hour ends between them.
            at: hour + next(3) * 3_600_000 + [0, 1, 59][next(3)]! * 60_000 + next(60_000),
            code: codes[next(codes.length)]!,
            cost: next(4),
          }),
        ),
        hour,
      ),
    );
    await ledger.ingest(batches);
    let folded = 0;
    for (let n = await ledger.aggregatePending(true, 3); n > 0; n = await ledger.aggregatePending(true, 3)) folded += n;
    expect(folded).toBe(20 * 200);
    const compare = async (folded: string, direct: string, rows: (n: number) => boolean): Promise<void> => {
      const [got, want] = await Promise.all([ctx.ownerDb.query<unknown[]>(folded, [keys]), ctx.ownerDb.query<unknown[]>(direct, [keys])]);
      expect(rows(want.length)).toBe(true);
      expect(got).toEqual(want);
    };
    await compare(
      `select key_id, minute, code, tenant, calls::int, cost::int from usage_key_minutes where key_id = any($1) order by 1, 2, 3`,
      `select key_id, date_trunc('minute', at) as minute, code, min(tenant) as tenant, count(*)::int as calls, sum(cost)::int as cost
       from usage_records where key_id = any($1) group by 1, 2, 3 order by 1, 2, 3`,
      (n) => n > 50,
    );
    await compare(
      `select tenant, key_id, ip, hour, calls::int, invalid::int, last_seen_at from usage_source_hours where key_id = any($1) order by 1, 2, 3, 4`,
      `select tenant, key_id, coalesce(ip, '') as ip, date_trunc('hour', at, 'UTC') as hour, count(*)::int as calls,
              (count(*) filter (where code <> 'VALID'))::int as invalid, max(at) as last_seen_at
       from usage_records where key_id = any($1) group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
      (n) => n > 20,
    );
    await compare(
      `select key_id, tenant, first_used_at, last_used_at from usage_keys where key_id = any($1) order by 1`,
      `select key_id, min(tenant) as tenant, min(at) as first_used_at, max(at) as last_used_at from usage_records where key_id = any($1) group by 1 order by 1`,
      (n) => n === keys.length,
    );
  });

  it('has queries asked at once share one fold of what was stored before them', async () => {
    const key = newPrefixedId('key');
    const reader = new UsageLedger(ctx.appDb);
    await ledger.ingest([batch([used({ keyId: key, at: T0 + 7 })])]);
    const folds = jest.spyOn(reader, 'aggregatePending');
    const answers = await Promise.all(Array.from({ length: 10 }, () => reader.lastUse(key)));
    expect(answers.every((answer) => answer?.lastUsedAt === new Date(T0 + 7).toISOString())).toBe(true);
    expect(folds).toHaveBeenCalledTimes(1);
    // Asked after that fold began, a query gets a fold of its own: it sees what was stored since.
    await ledger.ingest([batch([used({ keyId: key, at: T0 + 9 })])]);
    expect((await reader.lastUse(key))?.lastUsedAt).toBe(new Date(T0 + 9).toISOString());
    expect(folds).toHaveBeenCalledTimes(2);
  });

  it('leaves batches pending when a fold fails, and folds them once when it can', async () => {
    const key = newPrefixedId('key');
    const day = Date.UTC(2030, 2, 3, 8, 0, 0);
    await ledger.ingest([batch([used({ keyId: key, at: day }), used({ keyId: key, at: day + 1 })], day)]);
    // The day's aggregate partition is gone: the fold's insert fails and it rolls back whole.
    await ctx.ownerDb.query(`drop table usage_key_minutes_20300303`);
    const failing = new UsageLedger(ctx.appDb);
    await expect(failing.aggregatePending()).rejects.toThrow(/no partition/);
    // Counted for the metric, and every query says so rather than answer without the pending batches.
    expect(failing.foldFailures).toBe(1);
    await expect(failing.lastUse(key)).rejects.toThrow(/no partition/);
    const [pending] = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from usage_batches where not aggregated`);
    expect(pending!.n).toBe(1);
    await ctx.ownerDb.query(`select usage_create_partitions('2030-03-03'::date)`);
    expect(await failing.aggregatePending()).toBe(2);
    expect(failing.foldedRecords).toBe(2);
    expect(await ledger.aggregatePending()).toBe(0);
    expect((await ledger.keyUsage(key, 'acme', { since: day - DAY, until: day + DAY }, 'day')).totals.calls).toBe(2);
  });

  it.each(['fold', 'store'] as const)('runs a %s again when Postgres rolls it back to break a deadlock', async (step) => {
    const key = newPrefixedId('key');
    const day = Date.UTC(2030, 3, step === 'fold' ? 4 : 5, 8, 0, 0);
    // The worker on a connection of its own, whose attempts are counted.
    const db = await ctx.connectAs('auditor');
    const worker = new UsageLedger(db);
    await worker.ensurePartitions([day]);
    const transactions = jest.spyOn(db, 'transaction');
    const queries = jest.spyOn(db, 'query');
    const attempts = (): number =>
      step === 'fold' ? transactions.mock.calls.length : queries.mock.calls.filter(([sql]) => String(sql).includes('batch_input')).length;
    let stored = 0;
    let deadlocked = false;
    // A transaction that locks usage_records, then usage_batches, whole (an order no store or fold
    // takes them in) while the fold or store holds usage_batches and waits for usage_records. It
    // waits longer before it looks for a deadlock, so Postgres rolls the other back: unless it
    // asks for its second lock after the other has looked (each looks once, a second after it
    // began to wait), in which case it is the one rolled back, and the test tries again.
    for (let attempt = 1; !deadlocked && attempt <= 3; attempt += 1) {
      await ledger.ingest([batch([used({ keyId: key, at: day + stored })], day)]);
      stored += 1;
      transactions.mockClear();
      queries.mockClear();
      const locker = ctx.ownerDb.createQueryRunner();
      await locker.connect();
      try {
        await locker.startTransaction();
        await locker.query(`set local deadlock_timeout = '5s'`);
        await locker.query(`lock table usage_records in access exclusive mode`);
        const done = step === 'fold' ? worker.aggregatePending() : worker.ingest([batch([used({ keyId: key, at: day + stored })], day)]).then((r) => r.records);
        const settled = done.then(
          (records) => ({ records }),
          (error: unknown) => ({ error }),
        );
        if (step === 'store') stored += 1;
        await eventually(
          'waiting for usage_records',
          () => waitersFor(ctx.ownerDb, 'usage_records'),
          (n) => n === 1,
        );
        try {
          await locker.query(`lock table usage_batches in access exclusive mode`);
          await locker.commitTransaction();
          deadlocked = true;
        } catch (error) {
          if ((error as { driverError?: { code?: string } }).driverError?.code !== '40P01') throw error;
          await locker.rollbackTransaction();
        }
        const outcome = await settled;
        // Each attempt leaves one new batch to fold or store.
        expect(outcome).toEqual({ records: 1 });
        // Rolled back once and run again, or, when this side was, run once.
        expect(attempts()).toBe(deadlocked ? 2 : 1);
      } finally {
        await locker.release();
      }
    }
    expect(deadlocked).toBe(true);
    expect(worker.deadlockRetries).toBe(1);
    expect(worker.foldFailures).toBe(0);
    expect((await ledger.keyUsage(key, 'acme', { since: day - DAY, until: day + DAY }, 'day')).totals.calls).toBe(stored);
  });

  it("creates a day's partitions while stores and folds hold the tables, and drops them after they end", async () => {
    // A schema of its own: the drop below takes every day before the one it is given.
    const own = await createTestContext('usageattach');
    const owned = new UsageLedger(own.appDb);
    const next = async (table: string): Promise<string | undefined> => {
      const [row] = await own.ownerDb.query<{ name: string | null }[]>(`select to_regclass($1)::text as name`, [table]);
      return row?.name ?? undefined;
    };
    // As a fold in progress holds them: usage_batches for update (usage_records, which it reads
    // next, below), and a store's rows.
    const fold = own.ownerDb.createQueryRunner();
    await fold.connect();
    try {
      await fold.startTransaction();
      await fold.query(`set local lock_timeout = '3s'`);
      await fold.query(`lock table usage_batches in row exclusive mode`);
      // Created meanwhile, not after the fold: it would hold a lock for the fold to end otherwise.
      await own.ownerDb.transaction(async (tx) => {
        await tx.query(`set local lock_timeout = '5s'`);
        await tx.query(`select usage_create_partitions('2030-06-07')`);
      });
      for (const table of ['usage_batches', 'usage_records', 'usage_key_minutes', 'usage_unknown_minutes', 'usage_source_hours'])
        expect(await next(`${table}_20300607`)).toBe(`${table}_20300607`);
      // Attached as partitions are made: the parent's indexes, rules and storage.
      const day = Date.UTC(2030, 5, 7, 12, 0, 0);
      const key = newPrefixedId('key');
      await owned.ingest([batch([used({ keyId: key, at: day })], day)]);
      await expect(own.ownerDb.query(`update usage_records_20300607 set cost = 1`)).rejects.toThrow(/append-only/);
      const [indexes] = await own.ownerDb.query<{ n: number }[]>(
        `select count(*)::int as n from pg_indexes where schemaname = current_schema() and tablename = 'usage_records_20300607'`,
      );
      expect(indexes!.n).toBe(1);
      const [fill] = await own.ownerDb.query<{ options: string[] | null }[]>(
        `select reloptions as options from pg_class where oid = 'usage_key_minutes_20300607'::regclass`,
      );
      expect(fill!.options).toEqual(['fillfactor=50']);
      // A drop waits for the fold, at usage_batches (it locks every parent first, in the order a
      // fold does), and holds nothing the fold goes on to lock: the fold reads usage_records and ends.
      const dropping = own.ownerDb.query<{ dropped: number }[]>(`select usage_drop_partitions_unbounded('2030-06-08') as dropped`).then(
        ([row]) => ({ dropped: row!.dropped }),
        (error: unknown) => ({ error }),
      );
      await eventually(
        'the drop waiting for the fold',
        () => waitersFor(own.ownerDb, 'usage_batches'),
        (n) => n === 1,
      );
      await fold.query(`lock table usage_records in access share mode`);
      await fold.commitTransaction();
      const dropped = await dropping;
      expect(dropped).toEqual({ dropped: expect.any(Number) as number });
      expect((dropped as { dropped: number }).dropped).toBeGreaterThanOrEqual(5);
      expect(await next('usage_records_20300607')).toBeUndefined();
    } finally {
      await fold.release();
      await own.close();
    }
  });

  it('bounds each day at UTC midnights, whatever the time zone of the session that creates it', async () => {
    // 2030-03-31: clocks go forward in Berlin, where a day is 23 hours.
    await ctx.ownerDb.transaction(async (tx) => {
      await tx.query(`set local timezone = 'Europe/Berlin'`);
      await tx.query(`select usage_create_partitions('2030-03-31')`);
    });
    const [bounds] = await ctx.ownerDb.transaction(async (tx) => {
      await tx.query(`set local timezone = 'UTC'`);
      return tx.query<{ bound: string }[]>(
        `select pg_get_expr(c.relpartbound, c.oid) as bound from pg_class c where c.oid = 'usage_records_20300331'::regclass`,
      );
    });
    expect(bounds!.bound).toBe("FOR VALUES FROM ('2030-03-31 00:00:00+00') TO ('2030-04-01 00:00:00+00')");
  });

  it('puts retention off when a query holds the usage tables past the lock wait, and drops once when two passes meet', async () => {
    const own = await createTestContext('usageputoff');
    const owned = new UsageLedger(own.appDb);
    const past = Date.now() - 3 * DAY;
    await owned.ingest([batch([used({ at: past })], past)]);
    // As a long read of the records (an export) holds them.
    const reader = own.ownerDb.createQueryRunner();
    await reader.connect();
    try {
      await reader.startTransaction();
      await reader.query(`lock table usage_records in access share mode`);
      await expect(owned.dropPartitionsBefore(Date.now() - DAY)).rejects.toBeInstanceOf(RetentionPutOffError);
      // Nothing went, and stores go on once the drop stopped waiting.
      await owned.ingest([batch([used({ at: past + 1 })], past)]);
      await reader.commitTransaction();
      // Two auditors' passes at once: the second waits for the first's locks, then finds nothing left.
      await reader.startTransaction();
      await reader.query(`select usage_drop_partitions($1::date)`, [new Date(Date.now() - DAY).toISOString().slice(0, 10)]);
      const second = owned.dropPartitionsBefore(Date.now() - DAY).then(
        (dropped) => ({ dropped }),
        (error: unknown) => ({ error }),
      );
      await eventually(
        'the second drop waiting',
        () => waitersFor(own.ownerDb, 'usage_batches'),
        (n) => n === 1,
      );
      await reader.commitTransaction();
      expect(await second).toEqual({ dropped: 0 });
      expect(await owned.dropPartitionsBefore(Date.now() - DAY)).toBe(0);
    } finally {
      await reader.release();
      await own.close();
    }
  });

  it('does not count again a batch stored by an auditor that aggregated it as it stored it', async () => {
    const key = newPrefixedId('key');
    // As the statement before deferred aggregates wrote it: records, aggregates, and a batch row without the new columns.
    const batchId = newPrefixedId('ub');
    await ctx.ownerDb.query(`insert into usage_batches (batch_id, created_at, instance, records) values ($1, $2, 'verifier-old', 1)`, [batchId, new Date(T0)]);
    await ctx.ownerDb.query(
      `insert into usage_records (at, batch_id, seq, key_id, tenant, scopes, code, cost, transport, instance)
       values ($1, $2, 0, $3, 'acme', '{}', 'VALID', 0, 'http', 'verifier-old')`,
      [new Date(T0), batchId, key],
    );
    await ctx.ownerDb.query(`insert into usage_key_minutes (key_id, minute, code, tenant, calls, cost) values ($1, $2, 'VALID', 'acme', 1, 0)`, [
      key,
      new Date(T0),
    ]);
    await ledger.aggregatePending();
    expect((await ledger.keyUsage(key, 'acme', { since: T0 - DAY, until: T0 + DAY }, 'day')).totals.calls).toBe(1);
  });

  it('lets the application role append, but not change, delete or create tables', async () => {
    await expect(ctx.appDb.query(`update usage_records set cost = 1`)).rejects.toThrow(/permission denied/);
    await expect(ctx.appDb.query(`delete from usage_records`)).rejects.toThrow(/permission denied/);
    await expect(ctx.appDb.query(`delete from usage_batches`)).rejects.toThrow(/permission denied/);
    await expect(ctx.appDb.query(`truncate usage_records`)).rejects.toThrow(/permission denied/);
    await expect(
      ctx.appDb.query(`create table usage_records_20990101 partition of usage_records for values from ('2099-01-01') to ('2099-01-02')`),
    ).rejects.toThrow(/permission denied|must be owner/);
    // Even the owner cannot edit a stored record.
    await expect(ctx.ownerDb.query(`update usage_records set cost = 1`)).rejects.toThrow(/append-only/);
    await expect(ctx.ownerDb.query(`delete from usage_records`)).rejects.toThrow(/append-only/);
  });

  it('counts tallies of unknown keys once per minute, source and fingerprint, once per batch however often it comes', async () => {
    const minute = T0 + 10 * 60_000;
    const tallyBatch = (calls: number): UsageBatch =>
      usageBatchSchema.parse({
        schemaVersion: 2,
        batchId: newPrefixedId('ub'),
        instance: 'verifier-a',
        createdAt: minute + 1000,
        since: minute + 1000,
        groups: [],
        tallies: [
          { minute, fingerprint: 'fedcba9876543210', tenant: 'globex', ip: '198.51.100.4', code: 'NOT_FOUND', transport: 'http', calls },
          { minute, ip: '198.51.100.4', code: 'NOT_FOUND', transport: 'http', calls: 1000 },
          { minute, ip: '*', code: 'MALFORMED', transport: 'grpc', calls: 7 },
        ],
      });
    const first = tallyBatch(3);
    expect(await ledger.ingest([first, tallyBatch(4)])).toEqual({ stored: 2, duplicates: 0, duplicateIds: [], records: 0 });
    expect(await ledger.ingest([first])).toMatchObject({ stored: 0, duplicates: 1 });
    const rows = await ctx.ownerDb.query<{ ip: string; fingerprint: string; tenant: string; calls: number }[]>(
      `select ip, fingerprint, tenant, code, calls::int from usage_unknown_minutes where minute = $1 order by ip, fingerprint`,
      [new Date(minute)],
    );
    expect(rows).toEqual([
      { ip: '*', fingerprint: '', tenant: '', code: 'MALFORMED', calls: 7 * 2 },
      { ip: '198.51.100.4', fingerprint: '', tenant: '', code: 'NOT_FOUND', calls: 2000 },
      { ip: '198.51.100.4', fingerprint: 'fedcba9876543210', tenant: 'globex', code: 'NOT_FOUND', calls: 7 },
    ]);
    // They count among the tenant's sources, as unknown keys always did.
    const globex = await ledger.tenantUsage('globex', { since: T0 - DAY, until: T0 + DAY }, 10);
    expect(globex.topSources).toEqual([{ ip: '198.51.100.4', calls: 7, invalid: 7 }]);
  });
});
