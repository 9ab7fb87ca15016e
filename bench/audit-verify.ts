// `keyledger audit verify` at scale: BENCH_EVENTS KeyIssued events (default 1,000,000) are
// written straight into the store with their chain hashes and MACs, the auditor's tree is grown
// over them and a checkpoint signed, then the whole verification runs (every chain and MAC,
// every leaf recomputed, the checkpoint's root and signature), on this thread and on worker
// threads; prints each step's time, the CPU time of this process and of its Postgres backends.
// With BENCH_BEFORE_DIST (another checkout's built dist/), that build's verification runs on the
// same store too, before this one's each time, so two versions compare under the same conditions.
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventAuthenticator } from '@keyledger/event-auth';
import { PostgresEventStore, createDataSource } from '@keyledger/event-store';
import { parseVersionedSecrets } from '@keyledger/key-secrets';
import { RecordedRejections, createTestContext } from '@keyledger/testing';
import { NoteSigner, PostgresTransparencyLog, parseVerifierKey, verifyTransparencyLog } from '@keyledger/transparency-log';
import { describeMachine, now } from './bench-support.js';
import { sampleBackendCpu } from './support/backend-cpu.js';
import { hashAndSealEvents, insertKeyIssuedEvents } from './support/synthetic-store.js';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const THREADS = Number(process.env['BENCH_THREADS'] ?? availableParallelism());
const BEFORE_DIST = process.env['BENCH_BEFORE_DIST'];
const APPLICATION = 'keyledger-bench-audit-verify';
const ctx = await createTestContext('benchaudit');
const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');

try {
  console.log('# audit verify\n' + (await describeMachine(ctx)));
  console.log(
    'method: KeyIssued events (one stream each, 1,000 tenants) are inserted by SQL (triggers off) with their chain hashes and MACs; the auditor grows its tree over them (5,000 events per transaction) and signs a checkpoint; then verifyTransparencyLog (what keyledger audit verify runs) checks every chain and MAC, recomputes every leaf from its row, the checkpoint root and signature, and looks for rows the tree skipped: on this thread, then on worker threads (each on its own connection), each time first by the build in BENCH_BEFORE_DIST when it is set; CPU is user + system time of this process (all its threads) and of the Postgres backends of its connections',
  );
  const w0 = now();
  await insertKeyIssuedEvents(ctx, EVENTS);
  await hashAndSealEvents(ctx);
  await ctx.ownerDb.query(`vacuum analyze events`);
  await ctx.ownerDb.query(`checkpoint`);
  console.log(`wrote ${EVENTS} events with chain hashes and MACs in ${((now() - w0) / 1000).toFixed(1)} s`);

  const { privateKey, verifierKey } = NoteSigner.generate('keyledger.bench/audit');
  const auditorDb = await ctx.connectAs('auditor');
  const store = new PostgresEventStore(auditorDb, { authenticator: ctx.auth.authenticator, rejections: new RecordedRejections() });
  const log = new PostgresTransparencyLog(auditorDb, store, NoteSigner.fromPrivateKey(privateKey), { batchSize: 5000 });
  const t0 = now();
  // The store's readers stop below the oldest transaction running on the server: grow until every event is in.
  let leaves = 0;
  while (leaves < EVENTS) leaves += await log.extend();
  const treeSeconds = (now() - t0) / 1000;
  const { checkpoint } = await log.signCheckpoint();
  console.log(
    `tree grown: ${leaves} leaves in ${treeSeconds.toFixed(1)} s (${Math.round(leaves / treeSeconds)} events/s); checkpoint of size ${checkpoint.treeSize} signed`,
  );
  await ctx.ownerDb.query(`vacuum analyze tlog_leaves, tlog_nodes`);

  // As the command connects: its own pool of two, and one connection per thread.
  const database = { url: ctx.databaseUrl, schema: ctx.schema, applicationName: APPLICATION };
  const verifyDb = createDataSource({ ...database, poolSize: 2 });
  await verifyDb.initialize();
  const eventKeys = parseVersionedSecrets(ctx.serviceEnv['KEYLEDGER_EVENT_KEYS']!, 'event key');
  // Each build with its own modules (its worker threads load its own script).
  const builds = [{ name: 'this build', verify: verifyTransparencyLog, authenticator: ctx.auth.authenticator }];
  if (BEFORE_DIST) {
    const importBefore = async <T>(lib: string): Promise<T> => (await import(pathToFileURL(join(BEFORE_DIST, 'libs', lib, 'src', 'index.js')).href)) as T;
    const before = await importBefore<{ verifyTransparencyLog: typeof verifyTransparencyLog }>('transparency-log');
    const auth = await importBefore<{ EventAuthenticator: typeof EventAuthenticator }>('event-auth');
    builds.unshift({ name: `the build in ${BEFORE_DIST}`, verify: before.verifyTransparencyLog, authenticator: new auth.EventAuthenticator(eventKeys) });
  }
  try {
    for (const threads of [0, THREADS])
      for (const build of builds) {
        const loadBefore = load();
        const backends = await sampleBackendCpu(ctx.ownerDb, APPLICATION);
        const cpu0 = process.cpuUsage();
        const v0 = now();
        const report = await build.verify(verifyDb, build.authenticator, [parseVerifierKey(verifierKey)], {
          workers: { count: threads, database, eventKeys },
        });
        const seconds = (now() - v0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const postgres = await backends.stop();
        const perEvent = (s: number): string => `${((s * 1e6) / report.leavesChecked).toFixed(1)} µs/event`;
        console.log(
          `audit verify (${build.name}), ${threads === 0 ? 'this thread only' : `${threads} worker threads`}: ${report.ok ? 'OK' : 'FAILED'} over ${report.chains.eventsChecked} events (${report.chains.streamsChecked} streams), ${report.leavesChecked} leaves, ${report.checkpointsChecked} checkpoint(s) in ${seconds.toFixed(1)} s (${Math.round(report.leavesChecked / seconds)} events/s); CPU: node ${perEvent((cpu.user + cpu.system) / 1e6)}, postgres ${postgres === undefined ? 'not measured (not on this machine)' : perEvent(postgres)}; load average before ${loadBefore}, after ${load()}`,
        );
        if (!report.ok) process.exitCode = 1;
      }
  } finally {
    await verifyDb.destroy();
  }
} finally {
  await ctx.close();
}
