// The audit trail before and after its monthly partitions: BENCH_TRAIL_ROWS rows (default
// 500,000) over two years in the plain table of before, the migration that moves them into
// monthly partitions timed, and the trail query of an audit search (a tenant's first page, with
// and without a one-month window) timed on both shapes; prints p50/p95 over BENCH_QUERIES
// (default 50) queries each.
import { keyledgerMigrations, migrateKeyledger } from '@keyledger/migrations';
import { APP_ROLE, createTestContext } from '@keyledger/testing';
import { describeMachine, now, percentile } from './bench-support.js';

const ROWS = Number(process.env['BENCH_TRAIL_ROWS'] ?? 500_000);
const QUERIES = Number(process.env['BENCH_QUERIES'] ?? 50);
const TENANTS = 50;
const PARTITIONING = 'PartitionAuditTrailByMonth1764000035000';
const FIRST = Date.UTC(2024, 0, 1);
const SPAN_MS = 730 * 86_400_000;
// The search's query (libs/key-history/src/audit-search.ts) for a tenant, a page of 50, without and with a time window.
const PAGE = `select event_id, transaction_id::text as transaction_id, position::text as position from audit_trail where tenant = $1`;
const ORDER = `order by transaction_id, position limit 51`;

const ctx = await createTestContext('benchtrailparts');

try {
  console.log('# audit trail partitioning\n' + (await describeMachine(ctx)));
  console.log(
    `method: the partitioning migration undone (its down), ${ROWS} trail rows inserted by SQL into the plain table (${TENANTS} tenants, 20,000 streams, times spread evenly over 730 days from 2024-01-01, in store order), vacuum analyze; the search's trail query for one tenant (first page of 50, in store order) timed ${QUERIES} times with no time bounds and with the window of the last month; the migration run again (migrateKeyledger: a partition for each month the rows span and for this month and the next, the rows moved, the grants) and timed; vacuum analyze; the same queries on the partitioned trail`,
  );
  const partitioning = keyledgerMigrations(APP_ROLE).find((migration) => migration.name === PARTITIONING)!;
  await ctx.ownerDb.transaction((tx) => new partitioning().down(tx.queryRunner!));
  await ctx.ownerDb.query(`delete from schema_migrations where name = $1`, [PARTITIONING]);
  const w0 = now();
  await ctx.ownerDb.query(
    `insert into audit_trail (event_id, transaction_id, position, stream_id, stream_version, type, tenant, owner, actor, correlation_id, causation_id, occurred_at)
     select gen_random_uuid(), (1000 + n)::text::xid8, n, 'key-key_' || lpad((n % 20000)::text, 26, '0'), n / 20000 + 1,
            (array['KeyIssued', 'KeyUpdated', 'KeySuspended', 'KeyResumed'])[1 + n % 4], 'tenant' || (n % ${TENANTS}), 'owner' || (n % 7),
            'admin-key:key_' || (n % 100), 'corr', 'cause', to_timestamp($1 / 1000.0) + (n::float8 / $2) * interval '730 days'
     from generate_series(1, $2::int) as n`,
    [FIRST, ROWS],
  );
  await ctx.ownerDb.query(`vacuum analyze audit_trail`);
  console.log(`wrote ${ROWS} rows in ${((now() - w0) / 1000).toFixed(1)} s`);

  const lastMonth = [new Date(FIRST + SPAN_MS - 31 * 86_400_000).toISOString(), new Date(FIRST + SPAN_MS).toISOString()];
  const time = async (window: readonly string[]): Promise<number[]> => {
    const sql = window.length > 0 ? `${PAGE} and occurred_at >= $2::timestamptz and occurred_at < $3::timestamptz ${ORDER}` : `${PAGE} ${ORDER}`;
    const samples: number[] = [];
    for (let i = 0; i < QUERIES; i += 1) {
      const t0 = now();
      await ctx.appDb.query(sql, [`tenant${i % TENANTS}`, ...window]);
      samples.push(now() - t0);
    }
    return samples.sort((a, b) => a - b);
  };
  const figures = async (): Promise<string[]> => {
    const unbounded = await time([]);
    const month = await time(lastMonth);
    return [unbounded, month].map((samples) => `${percentile(samples, 50).toFixed(1)} ms / ${percentile(samples, 95).toFixed(1)} ms`);
  };
  const plain = await figures();

  const m0 = now();
  await migrateKeyledger({ url: ctx.databaseUrl, schema: ctx.schema, appRole: APP_ROLE });
  const migrationSeconds = (now() - m0) / 1000;
  const [partitions] = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from pg_inherits where inhparent = 'audit_trail'::regclass`);
  console.log(
    `migration: ${ROWS} rows moved into ${partitions?.n ?? '?'} partitions (the default included) in ${migrationSeconds.toFixed(1)} s (${Math.round(ROWS / migrationSeconds)} rows/s)`,
  );
  await ctx.ownerDb.query(`vacuum analyze audit_trail`);
  const [size] = await ctx.ownerDb.query<{ bytes: string }[]>(
    `select sum(pg_total_relation_size(inhrelid))::text as bytes from pg_inherits where inhparent = 'audit_trail'::regclass`,
  );
  console.log(`size: ${Math.round(Number(size?.bytes ?? 0) / ROWS)} bytes a row, indexes included`);
  const partitioned = await figures();

  console.log('| trail query (p50 / p95) | plain table | monthly partitions |\n|---|---|---|');
  console.log(`| a tenant's first page | ${plain[0]} | ${partitioned[0]} |`);
  console.log(`| a tenant's first page in the last month | ${plain[1]} | ${partitioned[1]} |`);
} finally {
  await ctx.close();
}
