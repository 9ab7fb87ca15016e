// The verifier's projection at scale: BENCH_KEYS KeyIssued events (default 1,000,000) are
// written straight into the store, then a fresh projection loads them; prints load time and
// memory per key, then stores a snapshot and times a start from it (run with --expose-gc, as `npm run bench -- projection-cold-start` does).
import { KEY_PROJECTION_SNAPSHOT, KeyIndex, LiveKeyProjection, ProjectionSnapshotStore } from '@keyledger/key-projection';
import { SnapshotSeal, parsePeppers } from '@keyledger/key-secrets';
import { createTestContext } from '@keyledger/testing';
import { describeMachine, now } from './bench-support.js';
import { hashAndSealEvents, insertKeyIssuedEvents } from './support/synthetic-store.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 1_000_000);
const ctx = await createTestContext('benchcold');

try {
  console.log('# projection cold start\n' + (await describeMachine(ctx)));
  console.log(
    'method: KeyIssued events with 1,000 tenants, 5,000 owners and two scopes are inserted by SQL (triggers off) and sealed with their MACs; a new KeyIndex + LiveKeyProjection loads them from the event store (replay, next batch read while the current one is applied); memory = heap + typed arrays after a full GC, before and after; then a snapshot is stored and a second projection starts from it, as a verifier does at start',
  );
  const w0 = now();
  await insertKeyIssuedEvents(ctx, KEYS);
  await hashAndSealEvents(ctx);
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
