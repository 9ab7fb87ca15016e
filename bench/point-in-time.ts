// A key's verdict at a past instant (`keyledger audit check`, KeyHistory.check) on a key with
// BENCH_KEY_EVENTS events (default 10,000): the key's stream read from the store with every MAC
// checked and folded up to the instant, as the auditor answers it. Prints p50/p95/max over
// BENCH_CHECKS checks (default 200) at random instants of the key's life, and the same for
// `audit at`. The target is p95 ≤ 500 ms.
import { streamIdOf } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { KeyHistory } from '@keyledger/key-history';
import { createTestContext, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { describeMachine, now, percentile } from './bench-support.js';

const EVENTS = Number(process.env['BENCH_KEY_EVENTS'] ?? 10_000);
const CHECKS = Number(process.env['BENCH_CHECKS'] ?? 200);
const KEY = 'key_00000000000000000000000009';
const ROOT: Caller = { keyId: 'key_root', tenant: 'root', scopes: ['keyledger:*'] };
const ctx = await createTestContext('benchpointintime');

try {
  console.log('# point-in-time check\n' + (await describeMachine(ctx)));
  console.log(
    `method: one key with ${EVENTS} events (issued, then updates of its scopes alternating with suspensions and resumptions), appended through the store 500 at a time; then ${CHECKS} checks and ${CHECKS} states at random instants of its life through KeyHistory (the auditor's code: the stream read with every MAC checked, folded up to the instant), one after another`,
  );
  const stream = streamIdOf('key', KEY);
  const w0 = now();
  await ctx.store.append(stream, 0, [{ type: 'KeyIssued', data: testKeyIssuedData(KEY, 'acme', { scopes: ['orders:read'] }), metadata: testMetadata() }]);
  for (let version = 1; version < EVENTS; ) {
    const batch = [];
    for (let i = 0; i < 500 && version + i < EVENTS; i += 1) {
      const n = version + i;
      const step = n % 3;
      batch.push(
        step === 0
          ? { type: 'KeyUpdated' as const, data: { keyId: KEY, scopes: [`orders:read`, `batch:${n}`] }, metadata: testMetadata() }
          : step === 1
            ? { type: 'KeySuspended' as const, data: { keyId: KEY, reason: `check ${n}` }, metadata: testMetadata() }
            : { type: 'KeyResumed' as const, data: { keyId: KEY }, metadata: testMetadata() },
      );
    }
    await ctx.store.append(stream, version, batch);
    version += batch.length;
  }
  await ctx.ownerDb.query(`vacuum analyze events`);
  const events = await ctx.store.readStream(stream);
  console.log(`wrote ${events.length} events in ${((now() - w0) / 1000).toFixed(1)} s`);

  const history = new KeyHistory(ctx.store);
  const first = Date.parse(events[0]!.occurredAt);
  const last = Date.parse(events[events.length - 1]!.occurredAt);
  const instant = (): string => new Date(first + Math.random() * (last - first + 1)).toISOString();
  const time = async (run: () => Promise<unknown>): Promise<number[]> => {
    const samples: number[] = [];
    for (let i = 0; i < CHECKS; i += 1) {
      const t0 = now();
      await run();
      samples.push(now() - t0);
    }
    return samples.sort((a, b) => a - b);
  };
  const report = (name: string, samples: number[]): void =>
    console.log(`| ${name} | ${percentile(samples, 50).toFixed(1)} ms | ${percentile(samples, 95).toFixed(1)} ms | ${samples[samples.length - 1]!.toFixed(1)} ms |`);
  console.log('| query | p50 | p95 | max |\n|---|---|---|---|');
  report('audit check (verdict and deciding event)', await time(() => history.check({ keyId: KEY, at: instant(), scopes: ['orders:read'] }, ROOT)));
  report('audit at (state)', await time(() => history.at({ keyId: KEY, at: instant() }, ROOT)));
} finally {
  await ctx.close();
}
