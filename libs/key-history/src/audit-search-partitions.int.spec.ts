import type { Caller } from '@keyledger/admin-auth';
import { AuditTrailPartitions, AuditTrailProjection } from '@keyledger/audit-trail';
import { rebuildProjection } from '@keyledger/consumer-runtime';
import type { AuditSearchEntry } from '@keyledger/contracts';
import { ROOT_TENANT } from '@keyledger/contracts';
import { NO_STREAM } from '@keyledger/event-store';
import { keyledgerMigrations, migrateKeyledger } from '@keyledger/migrations';
import type { TestContext } from '@keyledger/testing';
import { APP_ROLE, createTestContext, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { AuditSearch } from './audit-search.js';

const ROOT: Caller = { keyId: 'key_root', tenant: ROOT_TENANT, scopes: ['keyledger:*'] };
const PARTITIONING = 'PartitionAuditTrailByMonth1764000035000';

const keyId = (n: number): string => `key_${String(n).padStart(26, '0')}`;
const ids = (entries: readonly AuditSearchEntry[]): string[] => entries.map((entry) => entry.eventId);

/**
 * The audit search over the partitioned trail on real Postgres: a trail kept in the plain table
 * of before is moved into monthly partitions by the migration and found as before, the down
 * migration brings the plain table back with every row, and a row of a month without a partition
 * is found in the default partition and after it moved into its own.
 */
describe('audit search over the partitioned trail', () => {
  let ctx: TestContext;
  let search: AuditSearch;

  const trail = (): Promise<unknown[]> => ctx.ownerDb.query<unknown[]>(`select * from audit_trail order by event_id`);
  const tableKind = async (): Promise<string | undefined> =>
    (await ctx.ownerDb.query<{ kind: string }[]>(`select relkind::text as kind from pg_class where oid = 'audit_trail'::regclass`))[0]?.kind;

  beforeAll(async () => {
    ctx = await createTestContext('searchparts');
    search = new AuditSearch(ctx.appDb, ctx.store);
    for (const [n, tenant] of [
      [1, 'acme'],
      [2, 'globex'],
      [3, 'acme'],
    ] as const) {
      await ctx.store.append(`key-${keyId(n)}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId(n), tenant), metadata: testMetadata() }]);
      await ctx.store.append(`key-${keyId(n)}`, 1, [{ type: 'KeySuspended', data: { keyId: keyId(n) }, metadata: testMetadata() }]);
    }
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('moves a plain trail into monthly partitions, keeps it searchable, and its down migration brings the plain table back', async () => {
    const partitioning = keyledgerMigrations(APP_ROLE).find((migration) => migration.name === PARTITIONING)!;
    const partitioned = await trail();
    expect(partitioned).toHaveLength(6);
    const found = ids((await search.search({}, ROOT)).events);

    await ctx.ownerDb.transaction((tx) => new partitioning().down(tx.queryRunner!));
    await ctx.ownerDb.query(`delete from schema_migrations where name = $1`, [PARTITIONING]);
    expect(await tableKind()).toBe('r');
    expect(await trail()).toEqual(partitioned);
    expect(
      await ctx.ownerDb.query(`select pg_get_constraintdef(oid) as key from pg_constraint where conrelid = 'audit_trail'::regclass and contype = 'p'`),
    ).toEqual([{ key: 'PRIMARY KEY (event_id)' }]);
    expect(await ctx.ownerDb.query(`select to_regprocedure('audit_trail_create_partitions(date)') as fn`)).toEqual([{ fn: null }]);

    // The plain trail spread over six months, as an installation's of before would be.
    await ctx.ownerDb.query(
      `update audit_trail t set occurred_at = '2024-11-10T00:00:00Z'::timestamptz + s.n * interval '1 month'
         from (select event_id, row_number() over (order by transaction_id, position) - 1 as n from audit_trail) s where s.event_id = t.event_id`,
    );
    const plain = await trail();
    expect(await migrateKeyledger({ url: ctx.databaseUrl, schema: ctx.schema, appRole: APP_ROLE })).toEqual([PARTITIONING]);

    expect(await tableKind()).toBe('p');
    expect(await trail()).toEqual(plain);
    const placed = await ctx.ownerDb.query<{ partition: string; month: string }[]>(
      `select tableoid::regclass::text as partition, to_char(occurred_at at time zone 'UTC', 'YYYYMM') as month from audit_trail order by occurred_at`,
    );
    expect(placed.map((row) => row.partition)).toEqual(['202411', '202412', '202501', '202502', '202503', '202504'].map((month) => `audit_trail_${month}`));
    expect(ids((await search.search({}, ROOT)).events)).toEqual(found);
    expect((await search.search({ tenant: 'acme' }, ROOT)).events.map((entry) => entry.streamId)).toEqual([
      `key-${keyId(1)}`,
      `key-${keyId(1)}`,
      `key-${keyId(3)}`,
      `key-${keyId(3)}`,
    ]);

    // The auditor's login: what it could do on the plain table, and the partitions' function.
    const auditor = await ctx.connectAs('auditor');
    expect(await auditor.query(`select count(*)::int as n from audit_trail`)).toEqual([{ n: 6 }]);
    expect(await new AuditTrailPartitions(auditor).ensure(Date.now())).toBe(0);
    await expect(auditor.query(`update audit_trail set actor = 'someone else'`)).rejects.toThrow(/permission denied/);
  });

  it('finds a row of a month without a partition in the default partition, and in its own once it is made', async () => {
    await ctx.store.append(`key-${keyId(9)}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId(9), 'hooli'), metadata: testMetadata() }]);
    const [stored] = await ctx.store.readStream(`key-${keyId(9)}`);
    await ctx.appDb.transaction((tx) => new AuditTrailProjection().apply({ ...stored!, occurredAt: '2040-07-04T10:00:00.000Z' }, tx));
    const partitionOf = async (): Promise<unknown> =>
      (
        await ctx.ownerDb.query<{ partition: string }[]>(`select tableoid::regclass::text as partition from audit_trail where event_id = $1`, [stored!.eventId])
      )[0]?.partition;

    expect(await partitionOf()).toBe('audit_trail_default');
    expect(ids((await search.search({ tenant: 'hooli' }, ROOT)).events)).toEqual([stored!.eventId]);
    expect(await new AuditTrailPartitions(ctx.appDb).ensure(Date.now())).toBe(1);
    expect(await partitionOf()).toBe('audit_trail_204007');
    expect(ids((await search.search({ tenant: 'hooli' }, ROOT)).events)).toEqual([stored!.eventId]);
  });
});
