// The auditor's usage ledger alone: what storing verifications and folding them into the
// aggregates cost Postgres, per record. Each round stores BENCH_FOLD_SECONDS (10, the auditor's
// USAGE_AGGREGATE_EVERY_MS) of verifications at BENCH_RATE a second (24,000), as the auditor
// stores them, then folds them in one `aggregatePending`, as its timer does. With
// BENCH_BEFORE_DIST (another checkout's built dist/), that build's ledger runs each round too, on a
// schema of its own, the two in alternating order, so two versions compare under the same conditions.
// Run with `npm run bench -- usage-fold`.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { UsageBatch } from '@keyledger/contracts';
import { usageBatchV3Schema } from '@keyledger/contracts';
import { createDataSource } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { TestContext } from '@keyledger/testing';
import { APP_ROLE, createTestContext } from '@keyledger/testing';
import { DEFAULT_USAGE_BUFFER_SETTINGS, UsageGroups } from '@keyledger/usage-recorder';
import { UsageLedger } from '@keyledger/usage-ledger';
import { describeMachine, now } from './bench-support.js';
import { sampleBackendCpu } from './support/backend-cpu.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 10_000);
const RATE = Number(process.env['BENCH_RATE'] ?? 24_000);
const FOLD_SECONDS = Number(process.env['BENCH_FOLD_SECONDS'] ?? 10);
/** Addresses each key is used from; 0: every record from an address of its own (the worst case for the source aggregates). */
const SOURCES_PER_KEY = Number(process.env['BENCH_SOURCES_PER_KEY'] ?? 2);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const BEFORE_DIST = process.env['BENCH_BEFORE_DIST'];
const BATCH = DEFAULT_USAGE_BUFFER_SETTINGS.batchRecords;
/** Batches per ingest statement: what the auditor's consumer gathers within its wait at this rate. */
const BATCHES_PER_INGEST = 8;

type Ledger = Pick<UsageLedger, 'ingest' | 'aggregatePending'>;

interface Build {
  readonly name: string;
  readonly application: string;
  readonly ctx: TestContext;
  readonly ledger: Ledger;
}

const keyIds = Array.from({ length: KEYS }, () => newPrefixedId('key'));
const pick = (n: number): number => Math.floor(Math.random() * n);
let lastAddress = 0;
function sourceOf(key: number): string {
  const n = SOURCES_PER_KEY === 0 ? (lastAddress += 1) : key * SOURCES_PER_KEY + pick(SOURCES_PER_KEY);
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** `seconds` of verifications from `start` (ms), as a verifier publishes them: version 3 batches of BATCH records. */
function verifications(start: number, seconds: number): UsageBatch[] {
  const out: UsageBatch[] = [];
  const records = RATE * seconds;
  for (let first = 0; first < records; first += BATCH) {
    const groups = new UsageGroups();
    for (let i = first; i < Math.min(records, first + BATCH); i += 1) {
      const key = pick(KEYS);
      groups.add({
        keyId: keyIds[key]!,
        tenant: 'acme',
        at: start + Math.floor((i * 1000) / RATE),
        ip: sourceOf(key),
        scopes: ['orders:read'],
        code: pick(20) === 0 ? 'INSUFFICIENT_PERMISSIONS' : 'VALID',
        cost: 1,
        transport: 'http',
      });
    }
    const header = { instance: 'verifier-bench', createdAt: start + Math.floor((first * 1000) / RATE), newBatchId: () => newPrefixedId('ub') };
    for (const { payload } of groups.encode(header, DEFAULT_USAGE_BUFFER_SETTINGS.maxBatchBytes)) out.push(usageBatchV3Schema.parse(JSON.parse(payload)));
  }
  return out;
}

async function build(name: string, label: string, newLedger: (db: ReturnType<typeof createDataSource>) => Ledger): Promise<Build> {
  const ctx = await createTestContext(label);
  const application = `keyledger-bench-${label}`;
  const db = createDataSource({ url: ctx.databaseUrl, schema: ctx.schema, role: APP_ROLE, applicationName: application, poolSize: 2 });
  await db.initialize();
  const close = ctx.close.bind(ctx);
  return { name, application, ledger: newLedger(db), ctx: { ...ctx, close: async () => (await db.destroy(), await close()) } };
}

const builds: Build[] = [];
try {
  builds.push(await build('this build', 'benchfold', (db) => new UsageLedger(db)));
  if (BEFORE_DIST) {
    const before = (await import(pathToFileURL(join(BEFORE_DIST, 'libs', 'usage-ledger', 'src', 'index.js')).href)) as { UsageLedger: typeof UsageLedger };
    builds.unshift(await build(`the build in ${BEFORE_DIST}`, 'benchfoldold', (db) => new before.UsageLedger(db)));
  }
  const observer = builds[0]!.ctx.ownerDb;
  console.log('# usage fold\n' + (await describeMachine(builds[0]!.ctx)));
  console.log(
    `method: each round, ${FOLD_SECONDS} s of verifications at ${RATE} a second (${KEYS} keys drawn at random, ` +
      `${SOURCES_PER_KEY === 0 ? 'every record from an address of its own' : `${SOURCES_PER_KEY} addresses a key`}, 1 in 20 refused) ` +
      `as version 3 batches of ${BATCH} records, stored ${BATCHES_PER_INGEST} batches a statement (UsageLedger.ingest), then folded into the aggregates ` +
      `at once (UsageLedger.aggregatePending, as the auditor's timer does every ${FOLD_SECONDS} s); CPU = user + system time of the ` +
      `ledger's Postgres backends (from /proc), per record; ${ROUNDS} rounds, the builds in turn within each, the first of a round going second in the next`,
  );
  const start = Date.now() - 3_600_000;
  for (let round = 0; round < ROUNDS; round += 1) {
    const batches = verifications(start + round * FOLD_SECONDS * 1000, FOLD_SECONDS);
    const records = batches.reduce((sum, batch) => sum + (batch.schemaVersion === 3 ? batch.at.length : 0), 0);
    // The builds in turns, the first of a round going second in the next: a round's first fold
    // may pay for the other's work (the last round's garbage, autovacuum of its partitions).
    for (const { name, application, ledger } of round % 2 === 0 ? builds : [...builds].reverse()) {
      const load = loadavg()[0]!.toFixed(2);
      const storing = await sampleBackendCpu(observer, application);
      const s0 = now();
      for (let i = 0; i < batches.length; i += BATCHES_PER_INGEST) await ledger.ingest(batches.slice(i, i + BATCHES_PER_INGEST));
      const storeMs = now() - s0;
      const storeCpu = await storing.stop();
      const folding = await sampleBackendCpu(observer, application);
      const f0 = now();
      const folded = await ledger.aggregatePending();
      const foldMs = now() - f0;
      const foldCpu = await folding.stop();
      if (folded !== records) throw new Error(`${name} folded ${folded} records of ${records}`);
      const perRecord = (cpu: number | undefined): string => (cpu === undefined ? 'n/a' : `${((cpu * 1e6) / records).toFixed(2)} µs`);
      console.log(
        `round ${round + 1}, ${name} (load ${load}): ${records} records; store ${perRecord(storeCpu)} Postgres CPU a record (${storeMs.toFixed(0)} ms); ` +
          `fold ${perRecord(foldCpu)} a record (${foldMs.toFixed(0)} ms)`,
      );
    }
  }
} finally {
  for (const { ctx } of builds) await ctx.close();
}
