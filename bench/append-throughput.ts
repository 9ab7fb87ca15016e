// Event store append throughput: one event per append (each its own transaction), and
// batches of events per append, at several writer concurrencies. Real Postgres; each run
// in its own schema. Run with `npm run bench`.
import { NO_STREAM } from '@keyledger/event-store';
import { createTestContext, testEvent } from '@keyledger/testing';
import { describeMachine, now, summarise } from './bench-support.js';

const ctx = await createTestContext('benchappend');
let streamCounter = 0;

type Append = (events: ReturnType<typeof testEvent>[]) => Promise<unknown>;

const storeAppend: Append = (events) => {
  streamCounter += 1;
  return ctx.store.append(`key-bench${streamCounter}`, NO_STREAM, events);
};

/** Baseline: the same rows inserted in one transaction with no version check, no idempotency lookup and no hash. */
const plainInsert: Append = (events) =>
  ctx.appDb.query(`insert into bench_baseline (data, metadata) select d, m from unnest($1::jsonb[], $2::jsonb[]) as t(d, m)`, [
    events.map((event) => JSON.stringify(event.data)),
    events.map((event) => JSON.stringify(event.metadata)),
  ]);

async function run(label: string, writers: number, appends: number, batchSize: number, append: Append = storeAppend): Promise<void> {
  const latencies: number[] = [];
  const perWriter = Math.ceil(appends / writers);
  const started = now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = 0; i < perWriter; i += 1) {
        const events = Array.from({ length: batchSize }, (_, n) => testEvent({ n }));
        const t0 = now();
        await append(events);
        latencies.push(now() - t0);
      }
    }),
  );
  const seconds = (now() - started) / 1000;
  const events = perWriter * writers * batchSize;
  const { p50, p99 } = summarise(latencies);
  console.log(
    `${label.padEnd(28)} writers=${String(writers).padEnd(3)} ${String(Math.round(events / seconds)).padStart(7)} events/s  ${String(Math.round((perWriter * writers) / seconds)).padStart(6)} appends/s  append p50 ${p50}  p99 ${p99}`,
  );
}

await ctx.ownerDb.query(`create table bench_baseline (id bigint generated always as identity primary key, data jsonb not null, metadata jsonb not null)`);
await ctx.ownerDb.query(`grant select, insert on bench_baseline to keyledger_app`);

try {
  console.log('# append throughput\n' + (await describeMachine(ctx)));
  console.log(
    'method: appends to fresh streams (expected version NO_STREAM), awaited one after another per writer; each append is one transaction with the hash chain read and a multi-row insert; the baseline inserts the same JSON rows into a plain table in one statement, the floor set by the commit itself',
  );
  await run('warm-up', 4, 500, 1);
  for (const writers of [1, 8]) {
    await run('single event per append', writers, 4000, 1);
    await run('  baseline: plain insert', writers, 4000, 1, plainInsert);
  }
  for (const writers of [1, 8]) {
    await run('batch of 10 per append', writers, 1000, 10);
    await run('  baseline: plain insert', writers, 1000, 10, plainInsert);
  }
  for (const writers of [1, 8]) {
    await run('batch of 100 per append', writers, 200, 100);
    await run('  baseline: plain insert', writers, 200, 100, plainInsert);
  }
} finally {
  await ctx.close();
}
