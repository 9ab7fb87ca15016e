// The verifier's projection at scale: BENCH_KEYS KeyIssued events (default 1,000,000) are
// written straight into the store, then a fresh projection loads them; prints load time and
// heap per key (run with --expose-gc, as `npm run bench -- projection-cold-start` does).
import { KeyIndex, LiveKeyProjection } from '@keyledger/key-projection';
import { createTestContext } from '@keyledger/testing';
import { describeMachine, now } from './bench-support.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 1_000_000);
const ctx = await createTestContext('benchcold');
try {
  console.log('# projection cold start\n' + (await describeMachine(ctx)));
  console.log(
    'method: KeyIssued events with 1,000 tenants, 5,000 owners and two scopes are inserted by SQL (triggers off); a new KeyIndex + LiveKeyProjection then loads them from the event store as a verifier does at start; heap measured after a full GC before and after',
  );
  await ctx.ownerDb.query(`set session_replication_role = replica`);
  const w0 = now();
  await ctx.ownerDb.query(
    `insert into events (event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash)
     select gen_random_uuid(), 'key-key_' || lpad(i::text, 26, '0'), 1, 'KeyIssued', 1,
            jsonb_build_object('keyId', 'key_' || lpad(i::text, 26, '0'), 'tenant', 'tenant-' || (i % 1000), 'owner', 'service-' || (i % 5000),
                               'environment', 'live', 'prefix', 'kl', 'hint', 'kl_live_…' || right(i::text, 4),
                               'digest', jsonb_build_object('algorithm', 'hmac-sha256', 'pepperVersion', 1, 'digest', encode(sha256(i::text::bytea), 'hex')),
                               'scopes', jsonb_build_array('orders:read', 'users:*'), 'ipAllowlist', '[]'::jsonb, 'metadata', '{}'::jsonb),
            '{"actor":"bench","correlationId":"bench","causationId":"bench"}', now(), decode(repeat('00', 32), 'hex')
       from generate_series(1, $1) i`,
    [KEYS],
  );
  // As autovacuum would after such a load: without statistics the planner sorts the whole table per page.
  await ctx.ownerDb.query(`analyze events`);
  console.log(`wrote ${KEYS} KeyIssued events in ${((now() - w0) / 1000).toFixed(1)} s`);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const index = new KeyIndex();
  const projection = new LiveKeyProjection(
    { ...ctx, index },
    { instanceId: 'bench', maxBusSilenceMs: 30_000, failClosed: true, heartbeatMs: 1000, catchUpBatchSize: 20_000, announce: false },
  );
  const c0 = now();
  await projection.start();
  const seconds = (now() - c0) / 1000;
  gc?.();
  const perKey = (process.memoryUsage().heapUsed - heapBefore) / index.size;
  await projection.stop();
  console.log(
    `cold start: ${index.size} keys loaded in ${seconds.toFixed(2)} s; heap ${gc ? '' : '(no --expose-gc: rough) '}${Math.round(perKey)} bytes per key`,
  );
} finally {
  await ctx.close();
}
