// Verify throughput and latency: in-process, over NATS and over HTTP at concurrency 1/16/64,
// side by side with a baseline HTTP server that looks the key's digest up in Postgres on
// every request. Then revocation propagation (revoke with the fence, two verifiers).
// Needs wrk (apt-get install wrk). Run with `npm run bench -- verify-throughput`.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { promisify } from 'node:util';
import pg from 'pg';
import { apiSubject } from '@keyledger/contracts';
import { formatNewKey, parseKey } from '@keyledger/key-domain';
import { KeyHasher, parsePeppers } from '@keyledger/key-secrets';
import type { RunningServices } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, startServices } from '@keyledger/testing';
import { describeMachine, now, summarise } from './bench-support.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const IN_PROCESS_ITERATIONS = 2_000_000;
const MANY_KEYS = 100_000;
const run = promisify(execFile);
const ctx = await createTestContext('benchverify');
const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
const peppers = ctx.serviceEnv['KEYLEDGER_HASH_PEPPERS']!;
const hasher = new KeyHasher(parsePeppers(peppers));
let services: RunningServices | undefined;
let floor: ChildProcess | undefined;
const api = natsKeyApi(ctx, rootKey);
const admin = <T>(operation: string, body: unknown): Promise<T> => api.ok<T>(operation, body);

/** wrk's requests/s and latency percentiles for GET url with the key header. */
async function wrk(url: string, key: string, connections: number): Promise<string> {
  const { stdout } = await run('wrk', [
    '-t',
    connections === 1 ? '1' : '2',
    '-c',
    String(connections),
    '-d',
    `${SECONDS}s`,
    '--latency',
    '-H',
    `Authorization: Bearer ${key}`,
    '-H',
    'X-Required-Scope: orders:read',
    url,
  ]);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? '?';
  const p50 = /\s50%\s+([\d.]+\w+)/.exec(stdout)?.[1] ?? '?';
  const p99 = /\s99%\s+([\d.]+\w+)/.exec(stdout)?.[1] ?? '?';
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0';
  return `${String(Math.round(Number(rps))).padStart(7)} req/s  p50 ${p50.padStart(8)}  p99 ${p99.padStart(8)}  non-2xx ${non2xx}`;
}

async function natsLoad(key: string, concurrency: number): Promise<string> {
  const latencies: number[] = [];
  const deadline = now() + SECONDS * 1000;
  const body = JSON.stringify({ key, scopes: ['orders:read'] });
  const subject = apiSubject(ctx.topology.subjectPrefix, 'keys.verify');
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (now() < deadline) {
        const t0 = now();
        await ctx.nc.request(subject, body, { timeout: 5000 });
        latencies.push(now() - t0);
      }
    }),
  );
  const { p50, p99 } = summarise(latencies);
  return `${String(Math.round(latencies.length / SECONDS)).padStart(7)} req/s  p50 ${p50.padStart(8)}  p99 ${p99.padStart(8)}`;
}

try {
  console.log('# verify\n' + (await describeMachine(ctx)));
  // In-process: the verify function on its own index, with no transport and no services
  // running; one thread, then one per core; one key (always in cache), then 100,000 keys.
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
  console.log(
    `method: VALID keys; in-process = KeyVerifier.verify() in worker threads (${IN_PROCESS_ITERATIONS.toLocaleString('en')} each) on an index of their own holding 1 key or ${MANY_KEYS.toLocaleString('en')} keys verified in a shuffled order, before the services start; NATS = request/reply from this process; HTTP = wrk on GET /v1/authorize; baseline = node:http server doing the same HMAC and a primary-key lookup in Postgres (pool of 10) per request; floor = node:http answering the same headers and doing nothing else`,
  );
  for (const keyCount of [1, MANY_KEYS]) {
    for (const threads of [1, cpus().length]) {
      const { perSecond, valid } = await inProcess(threads, keyCount);
      const label = `in-process, ${keyCount.toLocaleString('en')} key${keyCount > 1 ? 's' : ''}, ${threads} thread${threads > 1 ? 's' : ''}`;
      console.log(`${label.padEnd(34)} ${Math.round(perSecond)} verifies/s (${valid} valid of ${threads * IN_PROCESS_ITERATIONS})`);
    }
  }

  services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, LOG_LEVEL: 'warn' });
  const verifierPort = services.of('verifier')[0]!.httpPort;
  await api.adminKeyAccepted();
  const { key } = await admin<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'bench', scopes: ['orders:*'] });
  await eventually(
    'key verifiable',
    () => fetch(`http://127.0.0.1:${verifierPort}/v1/authorize`, { headers: { Authorization: `Bearer ${key}` } }).then((r) => r.status),
    (s) => s === 200,
  );

  // Baseline: look the digest up in Postgres on every request.
  await ctx.ownerDb.query(
    `create table bench_keys (digest bytea primary key, key_id text not null, tenant text not null, scopes text[] not null, status text not null)`,
  );
  const digest = Buffer.from(hasher.material(key).digest.digest, 'hex');
  await ctx.ownerDb.query(
    `insert into bench_keys select sha256(i::text::bytea), 'key_' || i, 'acme', '{orders:*}', 'active' from generate_series(1, 100000) i`,
  );
  await ctx.ownerDb.query(`insert into bench_keys values ($1, 'key_bench', 'acme', '{orders:*}', 'active')`, [digest]);
  await ctx.ownerDb.query(`analyze bench_keys`);
  const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 10, options: `-c search_path=${ctx.schema}` });
  const baseline = createServer((request, response) => {
    const presented = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!presented || !parseKey(presented)) return response.writeHead(401).end();
    const lookup = hasher.digestUnder(presented, 0);
    pool.query<{ status: string }>('select status, scopes, tenant, key_id from bench_keys where digest = $1', [lookup]).then(
      ({ rows }) => response.writeHead(rows[0]?.status === 'active' ? 200 : 401).end(),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));
  const baselineUrl = `http://127.0.0.1:${(baseline.address() as { port: number }).port}/v1/authorize`;

  // The floor: what node:http itself allows on this machine beside the same services.
  floor = spawn(process.execPath, [new URL('./support/floor-http-server.js', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
  const floorPort = await new Promise<string>((resolve) => floor!.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
  const floorUrl = `http://127.0.0.1:${floorPort}/v1/authorize`;

  for (const connections of [1, 16, 64]) {
    console.log(`concurrency ${String(connections).padEnd(3)} NATS     ${await natsLoad(key, connections)}`);
    console.log(`concurrency ${String(connections).padEnd(3)} HTTP     ${await wrk(`http://127.0.0.1:${verifierPort}/v1/authorize`, key, connections)}`);
    console.log(`concurrency ${String(connections).padEnd(3)} baseline ${await wrk(baselineUrl, key, connections)}`);
    console.log(`concurrency ${String(connections).padEnd(3)} floor    ${await wrk(floorUrl, key, connections)}`);
  }
  baseline.close();
  await pool.end();

  // Revocation propagation: revoke with the fence; the answer comes when both verifiers apply it.
  const revocations: number[] = [];
  for (let i = 0; i < 50; i += 1) {
    const issued = await admin<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'bench' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const r0 = now();
    const { fence } = await admin<{ fence: { complete: boolean } }>('keys.revoke', { keyId: issued.keyId, reason: 'bench' });
    if (fence.complete) revocations.push(now() - r0);
  }
  const revoked = summarise(revocations);
  console.log(`revocation visible on both verifiers (revoke call with fence, ${revocations.length}/50 complete): p50 ${revoked.p50}  p99 ${revoked.p99}`);
} finally {
  floor?.kill();
  services?.stop();
  await ctx.close();
}
