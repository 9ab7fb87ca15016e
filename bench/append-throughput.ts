// Event store append throughput: one event per append (each its own transaction), and
// batches of events per append, at several writer concurrencies. Real Postgres; each run
// in its own schema. Run with `npm run bench`.
import { NO_STREAM } from '@keyledger/event-store';
import { createTestContext, testEvent } from '@keyledger/testing';
import { describeMachine, now, summarise } from './bench-support.js';

const ctx = await createTestContext('benchappend');
let streamCounter = 0;

async function run(label: string, writers: number, appends: number, batchSize: number): Promise<void> {
  const latencies: number[] = [];
  const perWriter = Math.ceil(appends / writers);
  const started = now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = 0; i < perWriter; i += 1) {
        streamCounter += 1;
        const events = Array.from({ length: batchSize }, (_, n) => testEvent({ n }));
        const t0 = now();
        await ctx.store.append(`key-bench${streamCounter}`, NO_STREAM, events);
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

try {
  console.log('# append throughput\n' + (await describeMachine(ctx)));
  console.log('method: appends to fresh streams (expected version NO_STREAM), awaited one after another per writer; each append is one transaction with the hash chain read and a multi-row insert');
  await run('warm-up', 4, 500, 1);
  for (const writers of [1, 8]) await run('single event per append', writers, 4000, 1);
  for (const writers of [1, 8]) await run('batch of 10 per append', writers, 1000, 10);
  for (const writers of [1, 8]) await run('batch of 100 per append', writers, 200, 100);
} finally {
  await ctx.close();
}
