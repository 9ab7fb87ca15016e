// Anomaly detector throughput: sealed usage batches, as verifiers publish them, waiting in the
// usage stream; then ONE anomaly-detector service process started and timed from its first ack to
// its last (the durable consumer's ack floor, polled), with its CPU time per KeyUsed from
// /proc/<pid>/stat and its memory per tracked key (RSS and heap before and after). The same records
// also go through AnomalyDetector in this process, to weigh a key's baseline on a collected heap.
// Linux only. Run with `npm run bench -- anomaly-throughput`; BENCH_RECORDS, BENCH_KEYS and
// BENCH_CPU_PROF=<dir> (the service's --cpu-prof) and ANOMALY_BATCHES_PER_SAVE change it.
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { KeyUsed, UsageTransport, VerifyCode } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES, usageBatchSchema } from '@keyledger/contracts';
import type { AnomalyFinding } from '@keyledger/anomaly-detection';
import { AnomalyDetector } from '@keyledger/anomaly-detection';
import { observeUsageBatch } from '@keyledger/anomaly-watch';
import { newPrefixedId } from '@keyledger/ids';
import type { RunningService } from '@keyledger/testing';
import { createTestContext, serviceOutput, startServices, stopProcesses } from '@keyledger/testing';
import { DEFAULT_USAGE_BUFFER_SETTINGS, UsageGroups, sealUsageBatchMessage } from '@keyledger/usage-recorder';
import { describeMachine, now } from './bench-support.js';
import { cpuMicros, postgresBackends } from './support/process-cpu.js';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const KEYS = Number(process.env['BENCH_KEYS'] ?? 10_000);
const CPU_PROFILE_DIR = process.env['BENCH_CPU_PROF'];
const BATCH = 2000; // the verifier's default USAGE_BATCH_RECORDS
const BATCH_EVERY_MS = 250; // and its USAGE_FLUSH_INTERVAL_MS
const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];
const TRANSPORTS: UsageTransport[] = ['http', 'http', 'nats', 'grpc'];

const ctx = await createTestContext('benchanomaly');

/** Each key's tenant and home addresses: one /24 for most, three for one key in ten (a roaming client). */
const keys = Array.from({ length: KEYS }, (_, k) => {
  const networks = k % 10 === 0 ? 3 : 1;
  return {
    keyId: newPrefixedId('key'),
    tenant: TENANTS[k % TENANTS.length]!,
    ips: Array.from({ length: networks }, (_, n) => `10.${(k * 3 + n) % 250}.${((k * 3 + n) >> 8) % 250}.${(k * 7) % 250}`),
  };
});
/** Zipf-like draw: a few keys take most of the traffic, as in real API use. */
const skewedIndex = (length: number): number => Math.min(length - 1, Math.floor(length ** Math.random()) - 1);
let seed = 15;
const random = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};

/** One verifier's batch: 93% VALID, 4% refused scopes, 2% unknown keys, 1% malformed strings, from several networks. */
function recordsOf(start: number): KeyUsed[] {
  const records: KeyUsed[] = [];
  for (let i = 0; i < BATCH; i += 1) {
    const draw = random();
    const at = start + Math.floor((i * BATCH_EVERY_MS) / BATCH);
    const transport = TRANSPORTS[i % TRANSPORTS.length]!;
    if (draw < 0.03) {
      const code: VerifyCode = draw < 0.02 ? 'NOT_FOUND' : 'MALFORMED';
      const ip = `172.${16 + (i % 16)}.${Math.floor(random() * 250)}.${Math.floor(random() * 250)}`;
      records.push({ fingerprint: fingerprintOf(random()), at, ip, scopes: [], code, cost: 0, transport });
      continue;
    }
    const refused = draw < 0.07;
    // Refusals spread over every key, as a client's occasional wrong scope.
    const key = keys[refused ? Math.floor(random() * keys.length) : skewedIndex(keys.length)]!;
    const code: VerifyCode = refused ? 'INSUFFICIENT_PERMISSIONS' : 'VALID';
    const ip = key.ips[Math.floor(random() * key.ips.length)]!;
    records.push({ keyId: key.keyId, tenant: key.tenant, at, ip, scopes: ['orders:read'], code, cost: 1, transport });
  }
  return records;
}

/** A presented string's fingerprint as the verifier records it (16 hex digits). */
const fingerprintOf = (draw: number): string =>
  Math.floor(draw * 2 ** 52)
    .toString(16)
    .padStart(16, '0')
    .slice(-16);

interface Message {
  readonly batchId: string;
  readonly payload: string;
  readonly records: number;
}

/**
 * RECORDS records in batches of BATCH, encoded as the verifier encodes them, ending 11 minutes
 * ago: past the detectors' alertWithinMs (10 minutes), so what they find is counted as stale and
 * not recorded (the keys exist in no event store here, and recording a finding needs its key).
 */
function messages(): Message[] {
  const batches = Math.ceil(RECORDS / BATCH);
  const start = Date.now() - 11 * 60_000 - batches * BATCH_EVERY_MS;
  const out: Message[] = [];
  for (let b = 0; b < batches; b += 1) {
    const groups = new UsageGroups();
    for (const record of recordsOf(start + b * BATCH_EVERY_MS)) groups.add(record);
    const header = { instance: 'verifier-bench', createdAt: start + (b + 1) * BATCH_EVERY_MS, newBatchId: () => newPrefixedId('ub') };
    for (const encoded of groups.encode(header, DEFAULT_USAGE_BUFFER_SETTINGS.maxBatchBytes))
      out.push({ batchId: encoded.batchId, payload: encoded.payload, records: encoded.records });
  }
  return out;
}

/** A process's resident set (bytes), from /proc/<pid>/status. */
function rssBytes(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib ?? Number.NaN) * 1024;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** The detector's own account on /health/ready: keys tracked, observations, findings (stale ones apart). */
async function detection(port: number): Promise<{ trackedKeys: number; text: string }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/health/ready`)).text();
  const field = (name: string): number => Number(new RegExp(`"${name}":(\\d+)`).exec(text)?.[1] ?? Number.NaN);
  return {
    trackedKeys: field('trackedKeys'),
    text: `observed ${field('observed').toLocaleString('en')}, findings ${field('findings')} (stale, not recorded: ${field('stale')}), sources not watched ${field('sourcesDropped')}`,
  };
}

interface Memory {
  readonly rss: number;
  readonly heap: number;
}
const memoryOf = async (service: RunningService): Promise<Memory> => ({
  rss: rssBytes(service.child.pid!),
  heap: await metric(service.httpPort, 'keyledger_nodejs_heap_size_used_bytes'),
});

const consumerInfo = () => ctx.jsm.consumers.info(ctx.topology.usageStream, DURABLE_CONSUMER_NAMES.anomalyUsage);
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
/**
 * ANOMALY_BATCHES_PER_SAVE passed on when set (to compare with another value than the default).
 * A backlog fills every save at once, so ANOMALY_SAVE_WAIT_MS would only hold the last save back
 * (up to 5 s, timed as throughput): 0 unless set.
 */
const env: Record<string, string> = {
  LOG_LEVEL: 'warn',
  ANOMALY_SAVE_WAIT_MS: process.env['ANOMALY_SAVE_WAIT_MS'] ?? '0',
  ...(process.env['ANOMALY_BATCHES_PER_SAVE'] ? { ANOMALY_BATCHES_PER_SAVE: process.env['ANOMALY_BATCHES_PER_SAVE'] } : {}),
};

/** Services started by this run, stopped at its end whatever happens (SIGKILL after a grace). */
const spawned: RunningService[] = [];

async function stopService(service: RunningService): Promise<void> {
  await stopProcesses([service.child]);
}

try {
  console.log('# anomaly detector throughput\n' + (await describeMachine(ctx)));
  console.log(
    `method: ${RECORDS.toLocaleString('en')} KeyUsed records in batches of ${BATCH} (the verifier's default), one batch per ${BATCH_EVERY_MS} ms of record time ending 11 minutes before the start (so findings are stale: learned from, counted, not recorded), ` +
      `${KEYS.toLocaleString('en')} keys of ${TENANTS.length} tenants drawn with a Zipf-like skew, each key from its own /24 (one in ten from three), over http, nats and grpc; ` +
      `93% VALID, 4% INSUFFICIENT_PERMISSIONS (on keys drawn evenly), 2% NOT_FOUND and 1% MALFORMED from random addresses of 16 /16s (tallies); ` +
      `each batch grouped and encoded as the verifier does (schema version 2), sealed (sealUsageBatchMessage) and published to the usage stream before the detector starts; ` +
      `one anomaly-detector process with its default thresholds and ANOMALY_BATCHES_PER_SAVE=${env['ANOMALY_BATCHES_PER_SAVE'] ?? 'default (64)'}; KeyUsed/s from the consumer's first ack to its last (ack floor polled every 50 ms); CPU time from /proc/<pid>/stat over the same span`,
  );
  // The service's memory with nothing learned: a first start on an empty stream, stopped once ready.
  const empty = (await startServices(ctx, ['anomaly-detector'], env)).all[0]!;
  spawned.push(empty);
  await delay(3000);
  const idle = await memoryOf(empty);
  await stopService(empty);

  const list = messages();
  const sizes = list.map((message) => Buffer.byteLength(message.payload));
  console.log(
    `stream: ${list.length} messages (${list.filter((m) => m.records === 0).length} of tallies only), ${Math.round(sizes.reduce((a, b) => a + b, 0) / list.length).toLocaleString('en')} bytes each on average`,
  );
  const recordsUpTo: { seq: number; records: number }[] = [];
  let total = 0;
  for (const message of list) {
    const sealed = sealUsageBatchMessage(ctx.auth.authenticator, message);
    const ack = await ctx.js.publish(ctx.topology.usageSubject, sealed.payload, { msgID: message.batchId, headers: sealed.headers });
    total += message.records;
    recordsUpTo.push({ seq: ack.seq, records: total });
  }
  const lastSeq = recordsUpTo[recordsUpTo.length - 1]!.seq;
  const ackedRecords = (floor: number): number => recordsUpTo.filter((entry) => entry.seq <= floor).pop()?.records ?? 0;

  const started = now();
  const detector = (await startServices(ctx, ['anomaly-detector'], env, CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : [])).all[0]!;
  spawned.push(detector);
  const pid = detector.child.pid!;
  const backends = await postgresBackends(ctx.ownerDb, [pid]);
  let first: { at: number; records: number; cpu: number; pgCpu: number } | undefined;
  let floor = 0;
  while (floor < lastSeq) {
    const info = await consumerInfo().catch(() => undefined);
    floor = info?.ack_floor.stream_seq ?? 0;
    if (first === undefined && floor > 0)
      first = { at: now(), records: ackedRecords(floor), cpu: cpuMicros(pid), pgCpu: backends.reduce((sum, b) => sum + cpuMicros(b), 0) };
    if (now() - started > 180_000)
      throw new Error(`the detector acked ${ackedRecords(floor)} of ${total} records in 3 minutes; its log:\n${serviceOutput(detector.child).slice(-3000)}`);
    if (floor < lastSeq) await delay(50);
  }
  const last = { at: now(), cpu: cpuMicros(pid), pgCpu: backends.reduce((sum, b) => sum + cpuMicros(b), 0) };
  const measured = total - first!.records;
  const seconds = (last.at - first!.at) / 1000;
  console.log(
    `detector: ${Math.round(measured / seconds).toLocaleString('en')} KeyUsed/s (${measured.toLocaleString('en')} records from its first ack to its last in ${seconds.toFixed(1)} s; ` +
      `${((last.at - started) / 1000).toFixed(1)} s for all ${total.toLocaleString('en')} from the process's spawn)`,
  );
  console.log(
    `CPU: detector ${((last.cpu - first!.cpu) / measured).toFixed(2)} µs per KeyUsed (${((last.cpu - first!.cpu) / 1e6 / seconds).toFixed(2)} cores), ` +
      `its Postgres backends ${((last.pgCpu - first!.pgCpu) / measured).toFixed(2)} µs per KeyUsed`,
  );
  const { trackedKeys: tracked, text: account } = await detection(detector.httpPort);
  console.log(`detector's account: ${account}`);
  const [baselines] = await ctx.ownerDb.query<{ n: number; bytes: number }[]>(
    `select count(*)::int as n, coalesce(sum(pg_column_size(baseline)), 0)::int as bytes from anomaly_baselines`,
  );
  await delay(5000);
  const full = await memoryOf(detector);
  console.log(
    `memory: ${tracked.toLocaleString('en')} keys tracked; RSS ${mib(idle.rss)} with none, ${mib(full.rss)} after (${Math.round((full.rss - idle.rss) / tracked).toLocaleString('en')} bytes per key); ` +
      `heap used ${mib(idle.heap)} → ${mib(full.heap)} (${Math.round((full.heap - idle.heap) / tracked).toLocaleString('en')} bytes per key, not collected first); ` +
      `${baselines!.n.toLocaleString('en')} baselines stored, ${Math.round(baselines!.bytes / Math.max(1, baselines!.n))} bytes each on average (jsonb)`,
  );
  await stopService(detector);

  // The same records through AnomalyDetector alone, on a collected heap: what a baseline weighs.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const alone = new AnomalyDetector(Date.now);
    const findings: AnomalyFinding[] = [];
    const observeStarted = now();
    for (const message of list) {
      const batch = usageBatchSchema.parse(JSON.parse(message.payload));
      observeUsageBatch(alone, batch, findings);
    }
    const observeSeconds = (now() - observeStarted) / 1000;
    gc();
    const after = process.memoryUsage().heapUsed;
    console.log(
      `in process: AnomalyDetector alone (with JSON.parse and the schema) ${Math.round(total / observeSeconds).toLocaleString('en')} KeyUsed/s; ` +
        `${alone.trackedKeys.toLocaleString('en')} keys tracked in ${mib(after - before)} of collected heap (${Math.round((after - before) / alone.trackedKeys).toLocaleString('en')} bytes per key, the source networks watched included); ${findings.length} findings`,
    );
  }
} finally {
  await stopProcesses(spawned.map((service) => service.child));
  await ctx.close();
}
