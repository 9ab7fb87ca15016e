// Relay lag: time from an append's commit (the append call returning) to JetStream's
// publish acknowledgement seen by the relay, at a steady offered load. Real Postgres and
// NATS JetStream, relay in this process. Run with `npm run bench`.
import { setTimeout as sleep } from 'node:timers/promises';
import { NO_STREAM } from '@keyledger/event-store';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import { createTestContext, eventually, testEvent } from '@keyledger/testing';
import { describeMachine, now, summarise } from './bench-support.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const ctx = await createTestContext('benchlag');
const committedAt = new Map<string, number>();
const lags: number[] = [];
let counter = 0;
const relay = createOutboxRelay({
  ...ctx,
  db: ctx.appDb,
  onPublished: (events) => {
    const ackedAt = now();
    for (const event of events) {
      const committed = committedAt.get(event.eventId);
      // An ack can beat the writer's own bookkeeping by microseconds; count it as zero.
      lags.push(committed === undefined ? 0 : Math.max(0, ackedAt - committed));
    }
  },
});

async function offerLoad(eventsPerSecond: number): Promise<void> {
  lags.length = 0;
  const before = committedAt.size;
  const writers = 4;
  const interval = (1000 * writers) / eventsPerSecond;
  const deadline = now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      let next = now();
      while (now() < deadline) {
        counter += 1;
        const event = testEvent({ writer, counter });
        const result = await ctx.store.append(`key-lag${writer}x${counter}`, NO_STREAM, [event]);
        committedAt.set(result.events[0]!.eventId, now());
        next += interval;
        const wait = next - now();
        if (wait > 0) await sleep(wait);
      }
    }),
  );
  await eventually(
    'relay to drain',
    () => relay.status().publishedSinceStart,
    (n) => n >= committedAt.size,
    60_000,
  );
  const { p50, p99, max } = summarise(lags);
  const achieved = Math.round((committedAt.size - before) / SECONDS);
  console.log(
    `offered ${String(eventsPerSecond).padStart(5)} events/s, achieved ${String(achieved).padStart(5)} events/s for ${SECONDS} s  lag p50 ${p50}  p99 ${p99}  max ${max}`,
  );
}

try {
  console.log('# relay lag (commit -> JetStream ack)\n' + (await describeMachine(ctx)));
  console.log(
    'method: 4 writers append one event per transaction at a fixed total rate; the relay (LISTEN/NOTIFY wake-up, 250 ms fallback poll, batches of up to 500, pipelined publishes) reports each acknowledged batch; lag = ack time - time the append returned',
  );
  relay.start();
  await eventually('relay to lead', () => relay.status().leader, Boolean);
  for (const rate of [100, 1000, 3000]) await offerLoad(rate);
} finally {
  await relay.stop();
  await ctx.close();
}
