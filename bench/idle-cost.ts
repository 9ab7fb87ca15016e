// What each service costs with nothing to do: the `npm start` services with their defaults and a
// second verifier (so the verifiers' rate-limit sync has a peer), left idle once loaded; CPU time
// of each process and of the Postgres backends serving it, from /proc/<pid>/stat, over
// BENCH_IDLE_SECONDS (30 by default), and the context switches of each process a second (about one
// per wake-up: the figure that does not depend on how dear a wake-up is on the machine), and the
// full (mark-compact) garbage collections each counted in the window, from its own /metrics;
// BENCH_PROFILE_DIR profiles the second verifier. The target is at most 0.5 % of a core per service.
// Run with `npm run bench -- idle-cost`.
import { randomBytes } from 'node:crypto';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices } from '@keyledger/testing';
import { createTestContext, natsKeyApi, startServices } from '@keyledger/testing';
import { describeMachine, now } from './bench-support.js';
import { CpuGroup, contextSwitches, postgresBackends } from './support/process-cpu.js';

const SECONDS = Number(process.env['BENCH_IDLE_SECONDS'] ?? 30);
// Once a service has started, V8's memory reducer waits for its allocation to slow, then runs
// two full collections that shrink the heap (about 60 → 45 MB): some 0.1 s of CPU on the main
// thread and as much on V8's worker threads, 20 to 120 s after the start on a 2-core machine.
// That is start-up work, done once; the window starts after it, and the collections counted in
// it say when one still fell inside.
const SETTLE_SECONDS = Number(process.env['BENCH_SETTLE_SECONDS'] ?? 150);
const SERVICES = ['relay', 'issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector'];

const ctx = await createTestContext('benchidle');
const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
const running: RunningServices[] = [];
try {
  console.log(await describeMachine(ctx));
  const env = { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, LOG_LEVEL: 'warn' };
  const first = await startServices(ctx, SERVICES, env);
  running.push(first);
  // BENCH_PROFILE_DIR: the second verifier writes a V8 CPU profile there when it stops (node --cpu-prof).
  const profileDir = process.env['BENCH_PROFILE_DIR'];
  const second = await startServices(ctx, ['verifier'], env, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
  running.push(second);
  await natsKeyApi(ctx, rootKey).adminKeyAccepted();
  // Start-up work (catch-up, first snapshots, lease, and V8's optimising and heap shrinking
  // after it) is over well before this.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
  const processes = [
    ...first.all.map(({ name, child, httpPort }) => ({ name, pid: child.pid!, httpPort })),
    { name: 'verifier 2', pid: second.all[0]!.child.pid!, httpPort: second.all[0]!.httpPort },
  ];
  const groups = processes.map(({ name, pid }) => ({
    name,
    own: new CpuGroup(() => [pid]),
    postgres: new CpuGroup(() => postgresBackends(ctx.ownerDb, [pid])),
  }));
  for (const group of groups) {
    await group.own.begin();
    await group.postgres.begin();
  }
  const switchesBefore = processes.map(({ pid }) => contextSwitches(pid));
  const collectionsBefore = await Promise.all(processes.map(({ httpPort }) => fullCollections(httpPort)));
  const storeBefore = await storeActivity();
  const started = now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const elapsedUs = (now() - started) * 1000;
  const storeAfter = await storeActivity();
  const share = (used: number): string => `${((100 * used) / elapsedUs).toFixed(2)} %`;
  const switchesPerSecond = processes.map(({ pid }, i) => (contextSwitches(pid) - switchesBefore[i]!) / (elapsedUs / 1e6));
  const collectionsAfter = await Promise.all(processes.map(({ httpPort }) => fullCollections(httpPort)));
  console.log(
    `idle, % of a core over ${SECONDS} s from ${SETTLE_SECONDS} s after the last start (the process · its Postgres backends), ` +
      `the process's context switches a second, and its full garbage collections in the window:`,
  );
  for (const [i, group] of groups.entries())
    console.log(
      `  ${group.name.padEnd(17)} ${share(await group.own.used()).padStart(7)} · ${share(await group.postgres.used()).padEnd(7)} ` +
        `${switchesPerSecond[i]!.toFixed(1).padStart(6)}/s  ${collectionsAfter[i]! - collectionsBefore[i]!} full GC`,
    );
  const perSecond = (before: bigint, after: bigint): string => (Number(after - before) / (elapsedUs / 1e6)).toFixed(1);
  console.log(
    `Postgres: ${perSecond(storeBefore.commits, storeAfter.commits)} commits/s in the database (every session, this bench's few included), ` +
      `${perSecond(storeBefore.walBytes, storeAfter.walBytes)} WAL bytes/s (the whole server)`,
  );
} finally {
  for (const services of running) services.stop();
  await ctx.close();
}

/** Full (mark-compact) garbage collections a service has counted so far, from its own /metrics (prom-client's GC histogram). */
async function fullCollections(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith('keyledger_nodejs_gc_duration_seconds_count{') && row.includes('kind="major"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Commits in this database and WAL written by the server so far: an idle service that commits costs Postgres a WAL flush each time. */
async function storeActivity(): Promise<{ commits: bigint; walBytes: bigint }> {
  const [row] = await ctx.ownerDb.query<{ commits: string; wal: string }[]>(
    `select (select xact_commit from pg_stat_database where datname = current_database())::text as commits,
            pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text as wal`,
  );
  return { commits: BigInt(row!.commits), walBytes: BigInt(row!.wal) };
}
