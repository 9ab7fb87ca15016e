// Verify throughput, latency and CPU time per request on the stack `npm start` runs: every service
// (relay, issuer, verifier, rotator, auditor, anomaly detector) with its defaults, every
// verification recorded as usage and stored by the auditor, 10,000 keys verified in a random
// order; over HTTP, NATS and gRPC at concurrency 1/16/64, each beside a floor measured in the same
// run (an empty node:http server, a bare @grpc/grpc-js server, bare NATS request/reply) and, for
// HTTP, a baseline that looks the key's digest up in Postgres. CPU time per request of each process
// comes from /proc/<pid>/stat over the measured window: on a shared machine it moves far less than
// requests per second. Also: keys.verify-batch with batches of 10 and 100 (keys verified per
// second, CPU µs per key), in-process verify, each idle service's CPU, revocation with the fence.
// Needs wrk (apt-get install wrk) and Linux. Run with `npm run bench -- verify-throughput`;
// BENCH_PARTS (comma-separated, from in-process,idle,http,nats,grpc,revocation; all by default)
// runs only those parts, e.g. BENCH_PARTS=http while working on the HTTP path.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { promisify } from 'node:util';
import { apiSubject } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import { KeyHasher, parsePeppers } from '@keyledger/key-secrets';
import type { RunningServices } from '@keyledger/testing';
import { createTestContext, eventually, freePort, grpcClient, natsKeyApi, startServices, waitForExit } from '@keyledger/testing';
import { describeMachine, now, summarise } from './bench-support.js';
import { CpuGroup, cpuMicros, postgresBackends } from './support/process-cpu.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const KEYS = Number(process.env['BENCH_KEYS'] ?? 10_000);
const IN_PROCESS_ITERATIONS = 1_000_000;
const MANY_KEYS = 100_000;
const CONCURRENCIES = [1, 16, 64];
const PARTS = new Set((process.env['BENCH_PARTS'] ?? 'in-process,idle,http,nats,grpc,revocation').split(',').map((part) => part.trim()));
const BATCH_SIZES = [10, 100];
const BATCH_CONCURRENCY = 16;
const SERVICES = ['relay', 'issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector'];
const run = promisify(execFile);
const supportPath = (file: string): string => new URL(`./support/${file}`, import.meta.url).pathname;

// A NATS server of the benchmark's own, so that its CPU time is this run's alone.
const natsDir = mkdtempSync(join(tmpdir(), 'kl-bench-nats-'));
const natsPort = await freePort();
const nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', natsDir], { stdio: 'ignore' });
process.env['KEYLEDGER_TEST_NATS_URL'] = `nats://127.0.0.1:${natsPort}`;
await eventually(
  'nats-server listening',
  () =>
    fetch(`http://127.0.0.1:${natsPort}`).then(
      () => true,
      (error: { cause?: { code?: string } }) => error.cause?.code !== 'ECONNREFUSED',
    ),
  Boolean,
);
const ctx = await createTestContext('benchverify');
const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
const peppers = ctx.serviceEnv['KEYLEDGER_HASH_PEPPERS']!;
const hasher = new KeyHasher(parsePeppers(peppers));
let services: RunningServices | undefined;
const children: ChildProcess[] = [];
const api = natsKeyApi(ctx, rootKey);
const admin = <T>(operation: string, body: unknown): Promise<T> => api.ok<T>(operation, body);

/** Starts a support process that prints one line when ready (its port, or "ready"). */
async function support(file: string, args: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [supportPath(file), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const line = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
  return { child, line };
}

interface Load {
  readonly requests: number;
  readonly text: string;
}

/** wrk on GET /v1/authorize, each request with a key drawn at random from `keysFile`'s list. */
async function wrk(url: string, script: string, connections: number): Promise<Load> {
  const { stdout } = await run('wrk', ['-t', connections === 1 ? '1' : '2', '-c', String(connections), '-d', `${SECONDS}s`, '--latency', '-s', script, url]);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? '?';
  const p50 = /\s50%\s+([\d.]+\w+)/.exec(stdout)?.[1] ?? '?';
  const p99 = /\s99%\s+([\d.]+\w+)/.exec(stdout)?.[1] ?? '?';
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0';
  return { requests, text: `${String(Math.round(Number(rps))).padStart(6)} req/s  p50 ${p50.padStart(8)}  p99 ${p99.padStart(8)}  non-2xx ${non2xx}` };
}

/** `concurrency` callers each running `once` in a loop for SECONDS: the latency of every call, and the seconds taken. */
async function timedCallers(concurrency: number, once: () => Promise<void>): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  const started = now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (now() < deadline) {
        const t0 = now();
        await once();
        latencies.push(now() - t0);
      }
    }),
  );
  return { latencies, seconds: (now() - started) / 1000 };
}

const randomKey = (keys: readonly string[]): string => keys[Math.floor(Math.random() * keys.length)]!;

/** `concurrency` callers in a loop for SECONDS, each call with a random key; counts answers other than VALID. */
async function closedLoop(concurrency: number, call: (key: string) => Promise<string>, keys: readonly string[]): Promise<Load> {
  let invalid = 0;
  const { latencies, seconds } = await timedCallers(concurrency, async () => {
    if ((await call(randomKey(keys))) !== 'VALID') invalid += 1;
  });
  const { p50, p99 } = summarise(latencies);
  const rps = String(Math.round(latencies.length / seconds)).padStart(6);
  return { requests: latencies.length, text: `${rps} req/s  p50 ${p50.padStart(8)}  p99 ${p99.padStart(8)}  not VALID ${invalid}` };
}

/** `concurrency` callers in a loop for SECONDS, each sending batches of `size` random keys; counts keys verified, and answers other than VALID. */
async function batchLoop(concurrency: number, size: number, call: (keys: string[]) => Promise<readonly string[]>, keys: readonly string[]): Promise<Load> {
  let verified = 0;
  let invalid = 0;
  const { latencies, seconds } = await timedCallers(concurrency, async () => {
    const codes = await call(Array.from({ length: size }, () => randomKey(keys)));
    verified += codes.length;
    invalid += codes.filter((code) => code !== 'VALID').length + size - codes.length;
  });
  const { p50, p99 } = summarise(latencies);
  const rate = String(Math.round(verified / seconds)).padStart(6);
  return { requests: verified, text: `${rate} keys/s  p50 ${p50.padStart(8)}  p99 ${p99.padStart(8)} per batch  not VALID ${invalid}` };
}

/** Waits until every durable consumer of `streams` has taken what was published (nothing pending or unacknowledged). */
async function consumed(streams: readonly string[]): Promise<void> {
  await eventually(
    'published messages consumed',
    async () => {
      for (const stream of streams) {
        const consumers = await ctx.jsm.consumers.list(stream).next();
        if (!consumers.every((c) => !c.config.durable_name || (c.num_pending === 0 && c.num_ack_pending === 0))) return false;
      }
      return true;
    },
    Boolean,
    120_000,
  );
}
/**
 * The usage stream consumed, then a usage query, which has the auditor fold what it stored into
 * the aggregates (as every query does) on its own connections: that work is counted too.
 */
const usageStored = async (): Promise<void> => {
  await consumed([ctx.topology.usageStream]);
  await admin('usage.tenant', { tenant: 'acme' });
};

const fmt = (us: number): string => us.toFixed(1);

/**
 * Runs `load` with the CPU time of each group measured over it; `untilStored` groups (the
 * auditor and Postgres) are measured until the usage the load caused is stored.
 */
async function measured(
  label: string,
  groups: Record<string, CpuGroup>,
  load: () => Promise<Load>,
  untilStored: readonly string[] = [],
): Promise<{ perRequest: Record<string, number>; load: Load }> {
  for (const group of Object.values(groups)) await group.begin();
  const result = await load();
  const used: Record<string, number> = {};
  for (const [name, group] of Object.entries(groups)) if (!untilStored.includes(name)) used[name] = await group.used();
  if (untilStored.length > 0) await usageStored();
  for (const name of untilStored) used[name] = await groups[name]!.used();
  const perRequest = Object.fromEntries(Object.entries(used).map(([name, us]) => [name, us / Math.max(1, result.requests)]));
  const total = Object.values(perRequest).reduce((a, b) => a + b, 0);
  const parts = Object.entries(perRequest).map(([name, us]) => `${name} ${fmt(us)}`);
  console.log(`${label.padEnd(22)} ${result.text}  | CPU µs/request: ${parts.join(' · ')}${parts.length > 1 ? ` · all ${fmt(total)}` : ''}`);
  return { perRequest, load: result };
}

try {
  console.log('# verify\n' + (await describeMachine(ctx)));
  console.log(
    `method: in-process = KeyVerifier.verify() in worker threads (${IN_PROCESS_ITERATIONS.toLocaleString('en')} each) on an index of their own holding 1 key or ${MANY_KEYS.toLocaleString('en')} keys in a shuffled order, before the services start. ` +
      `Then the npm start topology (${SERVICES.join(', ')}; one process each, defaults, usage recorded and stored by the auditor) on a NATS server of this run's own, ${KEYS.toLocaleString('en')} VALID keys each request draws at random; ` +
      `HTTP = wrk (GET /v1/authorize, Lua picks the key), NATS = request/reply from this process, gRPC = unary Verify from this process (one channel), ${SECONDS} s each. ` +
      `CPU µs/request = utime+stime from /proc over the window / requests; the auditor, the anomaly detector and Postgres (the backends of the services' connections) are counted until the usage stream is consumed and folded into the aggregates (a usage query); other services = relay, issuer and rotator. ` +
      `floor = the transport doing nothing (node:http, @grpc/grpc-js, a NATS responder; each its own process), for HTTP also at the verifier's rate (the same wrk, each connection pacing its requests with delay()); baseline = node:http doing the HMAC and a primary-key lookup in Postgres (pool of 10)`,
  );
  const inProcess = async (threads: number, keyCount: number): Promise<{ perSecond: number; valid: number }> => {
    const results = await Promise.all(
      Array.from({ length: threads }, () => {
        const worker = new Worker(new URL('./support/verify-loop.worker.js', import.meta.url), {
          workerData: { peppers, keyCount, iterations: IN_PROCESS_ITERATIONS },
        });
        return new Promise<{ startedAt: number; endedAt: number; valid: number }>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
      }),
    );
    // All verifications over the span from the first start to the last end: threads that
    // did not overlap fully are not credited as if they had.
    const span = Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt));
    return { perSecond: (threads * IN_PROCESS_ITERATIONS) / (span / 1000), valid: results.reduce((sum, r) => sum + r.valid, 0) };
  };
  for (const keyCount of PARTS.has('in-process') ? [1, MANY_KEYS] : []) {
    for (const threads of [1, cpus().length]) {
      const { perSecond, valid } = await inProcess(threads, keyCount);
      const label = `in-process, ${keyCount.toLocaleString('en')} key${keyCount > 1 ? 's' : ''}, ${threads} thread${threads > 1 ? 's' : ''}`;
      console.log(`${label.padEnd(34)} ${Math.round(perSecond)} verifies/s (${valid} valid of ${threads * IN_PROCESS_ITERATIONS})`);
    }
  }

  // BENCH_PROFILE_DIR: the services named in BENCH_PROFILE (the verifier by default) write a V8 CPU
  // profile there when they stop (node --cpu-prof).
  const profileDir = process.env['BENCH_PROFILE_DIR'];
  const profiled = new Set((process.env['BENCH_PROFILE'] ?? 'verifier').split(',').map((name) => name.trim()));
  const env = { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, LOG_LEVEL: 'warn' };
  // One service at a time: each gets its own time to become ready on a busy machine.
  const started: RunningServices[] = [];
  for (const name of SERVICES) {
    started.push(await startServices(ctx, [name], env, profileDir && profiled.has(name) ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []));
  }
  services = {
    all: started.flatMap((running) => running.all),
    of: (name) => started.flatMap((running) => running.of(name)),
    logs: () => started.map((running) => running.logs()).join('\n'),
    stop: () => started.forEach((running) => running.stop()),
  };
  const pidOf = (name: string): number => services!.of(name)[0]!.child.pid!;
  const verifier = services.of('verifier')[0]!;
  await api.adminKeyAccepted();
  const issuing = now();
  const keys: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < KEYS) {
        next += 1;
        keys.push((await admin<{ key: string }>('keys.issue', { tenant: 'acme', owner: `bench-${next % 100}`, scopes: ['orders:*'] })).key);
      }
    }),
  );
  await eventually(
    'every key verifiable',
    async () => (await api.verify({ key: keys[keys.length - 1], scopes: ['orders:read'] })).code,
    (code) => code === 'VALID',
  );
  console.log(`issued ${keys.length.toLocaleString('en')} keys in ${((now() - issuing) / 1000).toFixed(1)} s`);

  // Baseline table: the same keys' digests among 100,000 others.
  await ctx.ownerDb.query(
    `create table bench_keys (digest bytea primary key, key_id text not null, tenant text not null, scopes text[] not null, status text not null)`,
  );
  await ctx.ownerDb.query(
    `insert into bench_keys select sha256(i::text::bytea), 'key_' || i, 'acme', '{orders:*}', 'active' from generate_series(1, 100000) i`,
  );
  await ctx.ownerDb.query(`insert into bench_keys select d, 'key_bench', 'acme', '{orders:*}', 'active' from unnest($1::bytea[]) d`, [
    keys.map((key) => hasher.digestUnder(key, 0)),
  ]);
  await ctx.ownerDb.query(`analyze bench_keys`);

  const dir = mkdtempSync(join(tmpdir(), 'kl-bench-wrk-'));
  const keysLua = [
    `local keys = {${keys.map((key) => `"${key}"`).join(',')}}`,
    'local n = #keys',
    'local threads = 0',
    'function setup(thread) threads = threads + 1; thread:set("seed", threads) end',
    'function init() math.randomseed(seed * 7919 + os.time()) end',
    'function request() return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. keys[math.random(n)], ["X-Required-Scope"] = "orders:read" }) end',
  ];
  const script = join(dir, 'keys.lua');
  writeFileSync(script, keysLua.join('\n'));
  /**
   * The same requests paced to about `perSecond` over `connections`: each connection waits a
   * period between its requests (wrk's delay(), whole milliseconds, rounded at random so that
   * they average the period), so a server answers at about that rate, not as fast as it can.
   */
  const pacedScript = (connections: number, perSecond: number): string => {
    const paced = join(dir, `paced-${connections}.lua`);
    const periodMs = (1000 * connections) / perSecond;
    writeFileSync(
      paced,
      [
        ...keysLua,
        `local period = ${periodMs.toFixed(3)}`,
        'function delay() local d = math.floor(period); if math.random() < period - d then d = d + 1 end; return d end',
      ].join('\n'),
    );
    return paced;
  };

  const baseline = await support('baseline-server.js', [ctx.databaseUrl, ctx.schema, peppers]);
  const floorHttp = await support('floor-http-server.js');
  const floorGrpc = await support('floor-grpc-server.js');
  const floorSubject = `${ctx.topology.subjectPrefix}.bench.floor`;
  const floorNats = await support('floor-nats-responder.js', [ctx.natsUrl, floorSubject]);

  const servicePids = (): number[] => services!.all.map(({ child }) => child.pid!);
  const single = (pid: number): CpuGroup => new CpuGroup(() => [pid]);
  const stack = (): Record<string, CpuGroup> => ({
    verifier: single(verifier.child.pid!),
    auditor: single(pidOf('auditor')),
    NATS: single(nats.pid!),
    // Postgres split by whose connections its backends serve: the usage writers apart.
    'Postgres for the auditor': new CpuGroup(() => postgresBackends(ctx.ownerDb, [pidOf('auditor')])),
    'Postgres for the detector': new CpuGroup(() => postgresBackends(ctx.ownerDb, [pidOf('anomaly-detector')])),
    'Postgres for the rest': new CpuGroup(() =>
      postgresBackends(
        ctx.ownerDb,
        servicePids().filter((pid) => pid !== pidOf('auditor') && pid !== pidOf('anomaly-detector')),
      ),
    ),
    'anomaly detector': single(pidOf('anomaly-detector')),
    'other services': new CpuGroup(() => ['relay', 'issuer', 'rotator'].map(pidOf)),
  });
  // What works on the usage stream is counted until every consumer of it has taken what the load made.
  const storedByStack = ['auditor', 'anomaly detector', 'Postgres for the auditor', 'Postgres for the detector', 'Postgres for the rest'];

  // Idle: what each service costs with nothing to do, once the keys' events have settled.
  await consumed([ctx.topology.eventStream, ctx.topology.usageStream]);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  if (PARTS.has('idle')) {
    const idle = Object.fromEntries(SERVICES.map((name) => [name, cpuMicros(pidOf(name))]));
    const idleNats = cpuMicros(nats.pid!);
    const idleStarted = now();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const idleUs = (now() - idleStarted) * 1000;
    const share = (used: number): string => `${((100 * used) / idleUs).toFixed(2)} %`;
    console.log(
      `idle, % of a core over ${SECONDS} s: ${SERVICES.map((name) => `${name} ${share(cpuMicros(pidOf(name)) - idle[name]!)}`).join(' · ')} · NATS ${share(cpuMicros(nats.pid!) - idleNats)}`,
    );
  }

  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  const grpc = grpcClient(`127.0.0.1:${verifier.grpcPort}`, 'VerifierService');
  const grpcFloor = grpcClient(`127.0.0.1:${floorGrpc.line}`, 'VerifierService');
  const verifySubject = apiSubject(ctx.topology.subjectPrefix, 'keys.verify');
  const natsCall = (subject: string) => async (key: string) =>
    (await ctx.nc.request(subject, JSON.stringify({ key, scopes: ['orders:read'] }), { timeout: 5000 })).json<{ code: string }>().code;
  const client = { client: single(process.pid) };
  for (const c of PARTS.has('http') ? CONCURRENCIES : []) {
    const http = await measured(`HTTP c${c}`, stack(), () => wrk(`http://127.0.0.1:${verifier.httpPort}/v1/authorize`, script, c), storedByStack);
    const floor = await measured(`  floor node:http c${c}`, { server: single(floorHttp.child.pid!) }, () =>
      wrk(`http://127.0.0.1:${floorHttp.line}/v1/authorize`, script, c),
    );
    const base = await measured(
      `  baseline Postgres c${c}`,
      { server: single(baseline.child.pid!), Postgres: new CpuGroup(() => postgresBackends(ctx.ownerDb, [baseline.child.pid!])) },
      () => wrk(`http://127.0.0.1:${baseline.line}/v1/authorize`, script, c),
    );
    const rate = (l: Load): number => l.requests;
    console.log(
      `  => verifier CPU / floor ${ratio(http.perRequest['verifier']!, floor.perRequest['server']!)}; throughput / baseline ${ratio(rate(http.load), rate(base.load))}, / floor ${ratio(rate(http.load), rate(floor.load))}`,
    );
    if (c > 1) {
      // The floor alone at full speed serves several requests a wake-up, which the verifier,
      // slower on cores it shares with the stack, does not: the floor at the verifier's rate.
      const paced = await measured(`  floor node:http c${c} at the verifier's rate`, { server: single(floorHttp.child.pid!) }, () =>
        wrk(`http://127.0.0.1:${floorHttp.line}/v1/authorize`, pacedScript(c, http.load.requests / SECONDS), c),
      );
      console.log(`  => verifier CPU / floor at the verifier's rate ${ratio(http.perRequest['verifier']!, paced.perRequest['server']!)}`);
    }
  }
  const natsSingle = new Map<number, Awaited<ReturnType<typeof measured>>>();
  for (const c of PARTS.has('nats') ? CONCURRENCIES : []) {
    const verify = await measured(`NATS c${c}`, { ...stack(), ...client }, () => closedLoop(c, natsCall(verifySubject), keys), storedByStack);
    const floor = await measured(`  floor NATS reply c${c}`, { responder: single(floorNats.child.pid!), NATS: single(nats.pid!), ...client }, () =>
      closedLoop(c, natsCall(floorSubject), keys),
    );
    console.log(
      `  => verifier CPU / responder ${ratio(verify.perRequest['verifier']!, floor.perRequest['responder']!)}; throughput / floor ${ratio(verify.load.requests, floor.load.requests)}`,
    );
    natsSingle.set(c, verify);
  }
  const verifyBatchSubject = apiSubject(ctx.topology.subjectPrefix, 'keys.verify-batch');
  const natsBatchCall = async (batch: string[]): Promise<readonly string[]> => {
    const body = JSON.stringify({ requests: batch.map((key) => ({ key, scopes: ['orders:read'] })) });
    const reply = (await ctx.nc.request(verifyBatchSubject, body, { timeout: 10_000 })).json<{ ok: boolean; result?: { results: { code: string }[] } }>();
    return reply.result?.results.map((result) => result.code) ?? [];
  };
  for (const size of PARTS.has('nats') ? BATCH_SIZES : []) {
    const c = BATCH_CONCURRENCY;
    const batched = await measured(`NATS batch ${size} c${c}`, { ...stack(), ...client }, () => batchLoop(c, size, natsBatchCall, keys), storedByStack);
    const single = natsSingle.get(c);
    if (single) {
      console.log(
        `  => per key, against single calls at c${c}: keys/s ${ratio(batched.load.requests, single.load.requests)}; verifier CPU ${ratio(batched.perRequest['verifier']!, single.perRequest['verifier']!)}; client CPU ${ratio(batched.perRequest['client']!, single.perRequest['client']!)}`,
      );
    }
  }
  const grpcCall = (api: typeof grpc) => async (key: string) => (await api.call('Verify', { key, scopes: ['orders:read'] })).code;
  for (const c of PARTS.has('grpc') ? CONCURRENCIES : []) {
    const verify = await measured(`gRPC c${c}`, { ...stack(), ...client }, () => closedLoop(c, grpcCall(grpc), keys), storedByStack);
    const floor = await measured(`  floor grpc-js c${c}`, { server: single(floorGrpc.child.pid!), ...client }, () => closedLoop(c, grpcCall(grpcFloor), keys));
    console.log(
      `  => verifier CPU / floor ${ratio(verify.perRequest['verifier']!, floor.perRequest['server']!)}; throughput / floor ${ratio(verify.load.requests, floor.load.requests)}`,
    );
  }
  grpc.close();
  grpcFloor.close();
  rmSync(dir, { recursive: true, force: true });

  // Revocation propagation: revoke with the fence, with a second verifier running; the answer
  // comes when both have applied it.
  const revocations: number[] = [];
  const second = PARTS.has('revocation') ? await startServices(ctx, ['verifier'], { LOG_LEVEL: 'warn' }) : undefined;
  for (let i = 0; second && i < 50; i += 1) {
    const issued = await admin<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'bench' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const r0 = now();
    const { fence } = await admin<{ fence: { complete: boolean } }>('keys.revoke', { keyId: issued.keyId, reason: 'bench' });
    if (fence.complete) revocations.push(now() - r0);
  }
  second?.stop();
  if (profileDir) console.log(`CPU profiles of ${[...profiled].join(', ')}: ${profileDir} (written as they stop)`);
  const revoked = summarise(revocations);
  if (second)
    console.log(`revocation visible on both verifiers (revoke call with fence, ${revocations.length}/50 complete): p50 ${revoked.p50}  p99 ${revoked.p99}`);
} finally {
  for (const child of children) child.kill();
  services?.stop();
  // Stopped before their streams and schema go (and the verifier's profile written).
  await Promise.race([Promise.all((services?.all ?? []).map(({ child }) => waitForExit(child))), new Promise((resolve) => setTimeout(resolve, 20_000))]);
  await ctx.close();
  nats.kill();
  rmSync(natsDir, { recursive: true, force: true });
}
