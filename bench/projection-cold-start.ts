// The verifier's projection at scale: BENCH_KEYS KeyIssued events (default 1,000,000) are
// written straight into the store, then a fresh projection loads them; prints load time and
// memory per key, then stores a snapshot and times a start from it (run with --expose-gc, as `npm run bench -- projection-cold-start` does).
import { KEY_PROJECTION_SNAPSHOT, KeyIndex, LiveKeyProjection, ProjectionSnapshotStore } from '@keyledger/key-projection';
import { SnapshotSeal, parsePeppers } from '@keyledger/key-secrets';
import type { EventMetadata } from '@keyledger/contracts';
import { createTestContext } from '@keyledger/testing';
import { describeMachine, now } from './bench-support.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 1_000_000);
const ctx = await createTestContext('benchcold');

/** Gives every event inserted above the MAC the store would have written (triggers are still off). */
async function sealEvents(): Promise<void> {
  for (;;) {
    const rows = await ctx.ownerDb.query<EventRow[]>(
      `select position::text, event_id::text, stream_id, stream_version, type, schema_version, data, metadata, occurred_at from events
        where auth_mac is null order by position limit 20000`,
    );
    if (rows.length === 0) return;
    const macs = rows.map((row) =>
      ctx.auth.authenticator.sealStored({
        eventId: row.event_id,
        streamId: row.stream_id,
        streamVersion: row.stream_version,
        type: row.type,
        schemaVersion: row.schema_version,
        occurredAt: row.occurred_at.toISOString(),
        data: row.data,
        metadata: row.metadata,
      }),
    );
    await ctx.ownerDb.query(
      `update events set auth_version = sealed.version, auth_mac = sealed.mac
         from unnest($1::bigint[], $2::smallint[], $3::bytea[]) as sealed(position, version, mac) where events.position = sealed.position`,
      [rows.map((row) => row.position), macs.map((mac) => mac.version), macs.map((mac) => mac.mac)],
    );
  }
}

interface EventRow {
  position: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
}
try {
  console.log('# projection cold start\n' + (await describeMachine(ctx)));
  console.log(
    'method: KeyIssued events with 1,000 tenants, 5,000 owners and two scopes are inserted by SQL (triggers off) and sealed with their MACs; a new KeyIndex + LiveKeyProjection loads them from the event store (replay, next batch read while the current one is applied); memory = heap + typed arrays after a full GC, before and after; then a snapshot is stored and a second projection starts from it, as a verifier does at start',
  );
  await ctx.ownerDb.query(`set session_replication_role = replica`);
  const w0 = now();
  await ctx.ownerDb.query(
    // With the triggers off, what the events trigger would set is given here.
    `insert into events (position, transaction_id, recorded_at, event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash)
     select nextval('events_position'), pg_current_xact_id(), clock_timestamp(), gen_random_uuid(), 'key-key_' || lpad(i::text, 26, '0'), 1, 'KeyIssued', 1,
            jsonb_build_object('keyId', 'key_' || lpad(i::text, 26, '0'), 'tenant', 'tenant-' || (i % 1000), 'owner', 'service-' || (i % 5000),
                               'environment', 'live', 'prefix', 'kl', 'hint', 'kl_live_…' || right(i::text, 4),
                               'digest', jsonb_build_object('algorithm', 'hmac-sha256', 'pepperVersion', 1, 'digest', encode(sha256(i::text::bytea), 'hex')),
                               'scopes', jsonb_build_array('orders:read', 'users:*'), 'ipAllowlist', '[]'::jsonb, 'metadata', '{}'::jsonb),
            '{"actor":"bench","correlationId":"bench","causationId":"bench"}', now(), decode(repeat('00', 32), 'hex')
       from generate_series(1, $1) i`,
    [KEYS],
  );
  await sealEvents();
  // As autovacuum would after such a load: without statistics the planner sorts the whole table
  // per page. Vacuumed and checkpointed too, so the sealing's dead rows and WAL weigh on nothing measured.
  await ctx.ownerDb.query(`vacuum analyze events`);
  await ctx.ownerDb.query(`checkpoint`);
  console.log(`wrote ${KEYS} KeyIssued events, each with its MAC under the event key, in ${((now() - w0) / 1000).toFixed(1)} s`);
  const gc = (globalThis as { gc?: () => void }).gc;
  // Typed arrays live outside the JS heap, so both count.
  const used = (): number => {
    gc?.();
    const memory = process.memoryUsage();
    return memory.heapUsed + memory.arrayBuffers;
  };
  const settings = { maxBusSilenceMs: 30_000, failClosed: true, heartbeatMs: 1000, catchUpBatchSize: 20_000, announce: false };
  // Taken by hand below, not by the running projection.
  const snapshots = {
    store: new ProjectionSnapshotStore(ctx.appDb),
    seal: new SnapshotSeal(parsePeppers(ctx.serviceEnv['KEYLEDGER_HASH_PEPPERS']!)),
    everyEvents: Number.MAX_SAFE_INTEGER,
    checkEveryMs: 3_600_000,
  };

  const before = used();
  const replayIndex = new KeyIndex();
  const replay = new LiveKeyProjection({ ...ctx, index: replayIndex, snapshots }, { instanceId: 'bench-replay', ...settings });
  const r0 = now();
  await replay.start();
  const replaySeconds = (now() - r0) / 1000;
  const perKey = (used() - before) / replayIndex.size;
  console.log(
    `replay from the event store: ${replayIndex.size} keys in ${replaySeconds.toFixed(2)} s; ${gc ? '' : '(no --expose-gc: rough) '}${Math.round(perKey)} bytes per key (heap + typed arrays)`,
  );

  const s0 = now();
  await replay.takeSnapshot();
  const info = await snapshots.store.info(KEY_PROJECTION_SNAPSHOT);
  console.log(
    `snapshot stored: ${((info?.byteLength ?? 0) / 2 ** 20).toFixed(1)} MiB in ${((now() - s0) / 1000).toFixed(2)} s (encode, seal, write in 8 MiB chunks)`,
  );
  await replay.stop();

  const restoredIndex = new KeyIndex();
  const restored = new LiveKeyProjection({ ...ctx, index: restoredIndex, snapshots }, { instanceId: 'bench-snapshot', ...settings });
  const c0 = now();
  await restored.start();
  const seconds = (now() - c0) / 1000;
  await restored.stop();
  console.log(
    `cold start from the snapshot: ${restoredIndex.size} keys in ${seconds.toFixed(2)} s (read, check seal, decode, catch up; from snapshot: ${restored.status().startedFromSnapshot})`,
  );
} finally {
  await ctx.close();
}
