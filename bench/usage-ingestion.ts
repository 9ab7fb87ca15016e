// Usage: KeyUsed ingestion into Postgres, straight into the ledger and through JetStream
// and the auditor's consumer; then HTTP verify throughput with usage recording on and off,
// in the same run. Needs wrk (apt-get install wrk). Run with `npm run bench -- usage-ingestion`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import type { KeyUsed, UsageBatchV2, UsageBatchV3, VerifyCode } from '@keyledger/contracts';
import { usageBatchGroups, usageBatchV3Schema } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, startServices } from '@keyledger/testing';
import { DEFAULT_USAGE_BUFFER_SETTINGS, UsageGroups, sealUsageBatchMessage } from '@keyledger/usage-recorder';
import { DEFAULT_USAGE_CONSUMER_SETTINGS, UsageConsumer, UsageLedger, checkUsageBatch } from '@keyledger/usage-ledger';
import { describeMachine, now } from './bench-support.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const RECORDS = Number(process.env['BENCH_USAGE_RECORDS'] ?? 400_000);
const BATCH = 2000; // the verifier's default USAGE_BATCH_RECORDS
const KEYS = 10_000;
const run = promisify(execFile);
const ctx = await createTestContext('benchusage');
const ledger = new UsageLedger(ctx.appDb);

const keyIds = Array.from({ length: KEYS }, () => newPrefixedId('key'));
const ips = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);
/** Zipf-like draw: a few keys and addresses take most of the traffic, as in real API use. */
const skewed = <T>(list: readonly T[]): T => list[Math.min(list.length - 1, Math.floor(list.length ** Math.random()) - 1)]!;
const CODES: VerifyCode[] = ['VALID', 'VALID', 'VALID', 'VALID', 'VALID', 'VALID', 'VALID', 'INSUFFICIENT_PERMISSIONS', 'NOT_FOUND', 'MALFORMED'];

/** A batch as the verifier publishes it (version 3, columns), the same batch as version 2 (a verifier before it), and its records' version 1 size. */
interface Published {
  readonly batch: UsageBatchV3;
  readonly payload: string;
  readonly v2: string;
  readonly v1Bytes: number;
}

/** The groups of a version 3 batch as version 2 writes them. */
function asVersion2(batch: UsageBatchV3): string {
  const v2: UsageBatchV2 = {
    schemaVersion: 2,
    batchId: batch.batchId,
    instance: batch.instance,
    createdAt: batch.createdAt,
    since: batch.since,
    groups: usageBatchGroups(batch).map(({ fields, at }) => ({ ...fields, at: at.map((time) => time - batch.since) })),
  };
  return JSON.stringify(v2);
}

function batches(count: number, start: number): Published[] {
  const out: Published[] = [];
  for (let b = 0; b < count / BATCH; b += 1) {
    const records: KeyUsed[] = [];
    for (let i = 0; i < BATCH; i += 1) {
      const code = CODES[(b * BATCH + i) % CODES.length]!;
      const known = code !== 'NOT_FOUND' && code !== 'MALFORMED';
      records.push({
        keyId: known ? skewed(keyIds) : undefined,
        fingerprint: known ? undefined : randomBytes(8).toString('hex'),
        tenant: 'acme',
        at: start + b * 50 + Math.floor(i / 40),
        ip: skewed(ips),
        scopes: ['orders:read'],
        code,
        cost: 0,
        transport: 'http',
      });
    }
    const groups = new UsageGroups();
    for (const record of records) groups.add(record);
    const header = { instance: 'verifier-bench', createdAt: start + b * 50, newBatchId: () => newPrefixedId('ub') };
    const v1Bytes = Buffer.byteLength(
      JSON.stringify({ schemaVersion: 1, batchId: newPrefixedId('ub'), instance: header.instance, createdAt: header.createdAt, records }),
    );
    for (const { payload } of groups.encode(header, DEFAULT_USAGE_BUFFER_SETTINGS.maxBatchBytes)) {
      const batch = usageBatchV3Schema.parse(JSON.parse(payload));
      out.push({ batch, payload, v2: asVersion2(batch), v1Bytes });
    }
  }
  return out;
}

const mean = (values: readonly number[]): number => Math.round(values.reduce((sum, value) => sum + value, 0) / values.length);

/** Records stored so far, from the batch table (a few hundred rows: cheap to poll). */
async function storedRecords(): Promise<number> {
  const [row] = await ctx.ownerDb.query<{ n: number }[]>(`select coalesce(sum(records), 0)::int as n from usage_batches`);
  return row?.n ?? 0;
}

/** wrk's requests/s on GET /v1/authorize with a key. */
async function wrk(port: number, key: string, connections: number): Promise<number> {
  const { stdout } = await run('wrk', [
    '-t',
    '2',
    '-c',
    String(connections),
    '-d',
    `${SECONDS}s`,
    '-H',
    `Authorization: Bearer ${key}`,
    '-H',
    'X-Required-Scope: orders:read',
    `http://127.0.0.1:${port}/v1/authorize`,
  ]);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

let services: RunningServices | undefined;
try {
  console.log('# usage ingestion\n' + (await describeMachine(ctx)));
  console.log(
    `method: ${RECORDS} KeyUsed records in batches of ${BATCH} (the verifier's default), ${KEYS} keys and 2000 source addresses drawn with a Zipf-like skew, 20% unknown or malformed keys, timestamps spread over ${Math.round(RECORDS / BATCH / 20)} s; each run in a fresh day. ` +
      `each batch grouped and encoded as the verifier publishes it (usage schema version 3); ` +
      `direct = UsageLedger.ingest of 16 batches per statement, one after another`,
  );
  const day = (n: number): number => Date.UTC(2031, 0, 1 + n, 8);
  // Warm-up: partitions, plans, the table's first pages.
  await ledger.ingest(batches(20_000, day(0)).map((published) => published.batch));

  const direct = batches(RECORDS, day(1));
  console.log(
    `batches: ${direct.length} messages of version 3, ${mean(direct.map((p) => Buffer.byteLength(p.payload))).toLocaleString('en')} bytes each on average; the same as version 2: ${mean(direct.map((p) => Buffer.byteLength(p.v2))).toLocaleString('en')} bytes; as version 1: ${mean(direct.map((p) => p.v1Bytes)).toLocaleString('en')} bytes`,
  );
  let started = now();
  for (let i = 0; i < direct.length; i += 16) await ledger.ingest(direct.slice(i, i + 16).map((published) => published.batch));
  const directSeconds = (now() - started) / 1000;
  console.log(`direct           ${Math.round(RECORDS / directSeconds).toLocaleString('en')} records/s (${RECORDS} in ${directSeconds.toFixed(1)} s)`);

  /**
   * The auditor's path for these payloads: published sealed to the usage stream first, then the
   * auditor's UsageConsumer started in this process and timed until every record is stored. Its
   * CPU is this process's over the span, the polling of the stored count included (a query every 50 ms).
   */
  async function throughJetStream(
    payloads: readonly { batchId: string; payload: string }[],
  ): Promise<{ perSecond: number; seconds: number; cpuPerRecord: number }> {
    const before = await storedRecords();
    for (const { batchId, payload } of payloads) {
      // Sealed as a verifier seals it: the consumer checks every seal, and that is part of what is measured.
      const sealed = sealUsageBatchMessage(ctx.auth.authenticator, { batchId, payload });
      await ctx.js.publish(ctx.topology.usageSubject, sealed.payload, { msgID: batchId, headers: sealed.headers });
    }
    const consumer = new UsageConsumer(
      { nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, ledger, logger: ctx.logger, auth: ctx.auth },
      // A backlog fills every statement at once; the wait would only hold the last one back.
      { ...DEFAULT_USAGE_CONSUMER_SETTINGS, ingestWaitMs: 0 },
    );
    globalThis.gc?.();
    const cpuBefore = process.cpuUsage();
    const began = now();
    await consumer.start();
    await eventually('all records stored', storedRecords, (n) => n >= before + RECORDS, 600_000);
    const seconds = (now() - began) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    await consumer.stop();
    return { perSecond: RECORDS / seconds, seconds, cpuPerRecord: (cpu.user + cpu.system) / RECORDS };
  }
  console.log(
    `through JetStream: each batch published sealed to the usage stream, as version 3 (what verifiers publish now) or as version 2 (a verifier of the release before; the auditor still reads it), ` +
      `then the auditor's UsageConsumer started in this process and timed until every record is in Postgres; CPU = this process's user + system time over that span (seal checks, parsing, validation, the ingest's parameters, the driver, NATS, the stored-count poll every 50 ms) per record; alternating, 2 runs each`,
  );
  for (let round = 0; round < 2; round += 1) {
    for (const version of [2, 3] as const) {
      const made = batches(RECORDS, day(2 + round * 2 + (version - 2)));
      const result = await throughJetStream(made.map((p) => ({ batchId: p.batch.batchId, payload: version === 3 ? p.payload : p.v2 })));
      console.log(
        `through JetStream, version ${version}: ${Math.round(result.perSecond).toLocaleString('en')} records/s (${RECORDS} in ${result.seconds.toFixed(1)} s); auditor CPU ${result.cpuPerRecord.toFixed(2)} µs per record; load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}`,
      );
    }
  }

  // The same batches read in process, without NATS or Postgres: what parsing and checking a record costs in either version.
  const sample = batches(100_000, day(9));
  for (const version of [2, 3] as const) {
    const bodies = sample.map((p) => new TextEncoder().encode(version === 3 ? p.payload : p.v2));
    const records = sample.reduce((sum, p) => sum + p.batch.at.length, 0);
    let best = { parse: Number.POSITIVE_INFINITY, check: Number.POSITIVE_INFINITY };
    for (let round = 0; round < 5; round += 1) {
      globalThis.gc?.();
      let cpuStart = process.cpuUsage();
      const parsed = bodies.map((body) => JSON.parse(new TextDecoder().decode(body)) as unknown);
      let used = process.cpuUsage(cpuStart);
      const parse = (used.user + used.system) / records;
      cpuStart = process.cpuUsage();
      for (const json of parsed) if (!('batch' in checkUsageBatch(json))) throw new Error('a benchmark batch was refused');
      used = process.cpuUsage(cpuStart);
      best = { parse: Math.min(best.parse, parse), check: Math.min(best.check, (used.user + used.system) / records) };
    }
    console.log(
      `in process, version ${version}: decoding and JSON.parse ${best.parse.toFixed(2)} µs per record, the check (${version === 3 ? 'compiled from the zod schema, then the rules across columns' : 'zod'}) ${best.check.toFixed(2)} µs per record (best of 5, ${records.toLocaleString('en')} records, ${(bodies.reduce((sum, b) => sum + b.length, 0) / records).toFixed(0)} bytes a record)`,
    );
  }

  if (process.env['BENCH_USAGE_HTTP'] !== 'false') {
    // Verify over HTTP with recording on and off: two verifiers, loaded one at a time, alternating.
    const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
    services = await startServices(ctx, ['relay', 'issuer'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, LOG_LEVEL: 'warn' });
    const on = await startServices(ctx, ['verifier'], { LOG_LEVEL: 'warn', USAGE_RECORDING: 'true' });
    const off = await startServices(ctx, ['verifier'], { LOG_LEVEL: 'warn', USAGE_RECORDING: 'false' });
    const api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    const { key } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'bench', scopes: ['orders:*'] });
    const [onPort, offPort] = [on.all[0]!.httpPort, off.all[0]!.httpPort];
    const { state: streamBefore } = await ctx.jsm.streams.info(ctx.topology.usageStream);
    for (const port of [onPort, offPort])
      await eventually(
        'key verifiable',
        () => fetch(`http://127.0.0.1:${port}/v1/authorize`, { headers: { Authorization: `Bearer ${key}` } }).then((r) => r.status),
        (s) => s === 200,
      );
    console.log(
      `method: wrk, 2 threads, ${SECONDS} s per run, GET /v1/authorize with a VALID key; two verifiers of the same build, one with USAGE_RECORDING=true (defaults: batches of 2000, every 250 ms) and one with false, loaded one at a time, alternating, 3 runs each per concurrency; no auditor runs meanwhile (the records wait in the usage stream), then one starts and must store every record`,
    );
    for (const connections of [16, 64]) {
      const results = { on: [] as number[], off: [] as number[] };
      for (let round = 0; round < 3; round += 1) {
        results.off.push(await wrk(offPort, key, connections));
        results.on.push(await wrk(onPort, key, connections));
      }
      const median = (list: number[]): number => [...list].sort((a, b) => a - b)[1]!;
      const [medianOn, medianOff] = [median(results.on), median(results.off)];
      console.log(
        `concurrency ${String(connections).padEnd(3)} recording off ${Math.round(medianOff).toLocaleString('en')} req/s, on ${Math.round(medianOn).toLocaleString('en')} req/s: on = ${((100 * medianOn) / medianOff).toFixed(1)}% of off (medians of 3; off ${results.off.map(Math.round).join(', ')}; on ${results.on.map(Math.round).join(', ')})`,
      );
    }
    const published = await metric(onPort, 'keyledger_usage_published_total');
    const dropped = await metric(onPort, 'keyledger_usage_dropped_total');
    const { state } = await ctx.jsm.streams.info(ctx.topology.usageStream);
    const [bytes, messages] = [state.bytes - streamBefore.bytes, state.messages - streamBefore.messages];
    console.log(
      `recording verifier: ${published.toLocaleString('en')} records published, ${dropped} dropped; the usage stream grew by ${messages.toLocaleString('en')} messages, ${bytes.toLocaleString('en')} bytes (${Math.round(bytes / messages).toLocaleString('en')} bytes a message with its headers, ${(bytes / published).toFixed(1)} bytes a record)`,
    );
    const stored = await storedRecords();
    const auditor = await startServices(ctx, ['auditor'], { LOG_LEVEL: 'warn' });
    started = now();
    await eventually('auditor stored every record', storedRecords, (n) => n >= stored + published, 600_000);
    console.log(
      `auditor stored them all in ${((now() - started) / 1000).toFixed(1)} s (${Math.round(published / ((now() - started) / 1000)).toLocaleString('en')} records/s, from its start)`,
    );
    for (const group of [auditor, on, off]) group.stop();
  }
} finally {
  services?.stop();
  await ctx.close();
}
