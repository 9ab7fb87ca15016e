import { jest } from '@jest/globals';
import type { KeyUsed, UsageBatchV3 } from '@keyledger/contracts';
import { MAX_USAGE_BATCH_SPAN_MS, expandUsageBatch, usageBatchGroups, usageBatchV3Schema } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import type { UsageBufferSettings } from './usage-buffer.js';
import { UsageBuffer } from './usage-buffer.js';
import type { EncodedUsageBatch } from './usage-groups.js';

const KEY = newPrefixedId('key');
const record = (n: number): KeyUsed => ({
  keyId: KEY,
  at: 1_700_000_000_000 + n,
  scopes: [],
  code: 'VALID',
  cost: 0,
  transport: 'http',
});
const settings = (overrides: Partial<UsageBufferSettings> = {}): UsageBufferSettings => ({
  capacity: 100,
  batchRecords: 10,
  flushIntervalMs: 60_000,
  maxBatchBytes: 512 * 1024,
  retryDelayMs: 5,
  maxRetryDelayMs: 20,
  ...overrides,
});
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** A stored batch, with its records expanded. */
type Stored = UsageBatchV3 & { readonly records: KeyUsed[] };

/** A publisher that stores batches (each a valid version 3 batch), can be made to fail, or to hang until released. */
function sink() {
  const stored: Stored[] = [];
  const attempts: EncodedUsageBatch[] = [];
  let failures = 0;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  return {
    stored,
    attempts,
    failNext(n: number) {
      failures = n;
    },
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      open?.();
      gate = undefined;
    },
    publish: async (batch: EncodedUsageBatch): Promise<void> => {
      attempts.push(batch);
      if (gate) await gate;
      if (failures > 0) {
        failures -= 1;
        throw new Error('nats: timeout');
      }
      const parsed = usageBatchV3Schema.parse(JSON.parse(batch.payload));
      expect(parsed.batchId).toBe(batch.batchId);
      stored.push({ ...parsed, records: expandUsageBatch(parsed) });
    },
  };
}

const buffer = (target: ReturnType<typeof sink>, overrides: Partial<UsageBufferSettings> = {}) =>
  new UsageBuffer({ publish: target.publish, instance: 'verifier-test', newBatchId: () => newPrefixedId('ub') }, settings(overrides));

describe('usage buffer', () => {
  it('publishes a full batch at once, without waiting for the interval', async () => {
    const target = sink();
    const usage = buffer(target);
    usage.start();
    for (let i = 0; i < 25; i += 1) usage.add(record(i));
    await until(() => target.stored.length === 2);
    expect(target.stored.map((b) => b.records.length)).toEqual([10, 10]);
    expect(target.stored.flatMap((b) => b.records.map((r) => r.at))).toEqual(Array.from({ length: 20 }, (_, i) => 1_700_000_000_000 + i));
    expect(usage.counts()).toMatchObject({ queued: 5, published: 20, batches: 2, dropped: 0 });
    await usage.close();
  });

  it('runs no timer while nothing is queued, and one from the first record queued', async () => {
    jest.useFakeTimers();
    try {
      const target = sink();
      const usage = buffer(target, { flushIntervalMs: 40 });
      usage.start();
      expect(jest.getTimerCount()).toBe(0);
      usage.add(record(1));
      usage.add(record(2));
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(40);
      expect(jest.getTimerCount()).toBe(0);
      jest.useRealTimers();
      await until(() => target.stored.length === 1);
      expect(target.stored[0]!.records).toHaveLength(2);
      await usage.close();
    } finally {
      jest.useRealTimers();
    }
  });

  it('publishes a partial batch when the interval passes', async () => {
    const target = sink();
    const usage = buffer(target, { flushIntervalMs: 40 });
    usage.start();
    usage.add(record(1));
    usage.add(record(2));
    await sleep(10);
    expect(target.stored).toHaveLength(0);
    await until(() => target.stored.length === 1);
    expect(target.stored[0]!.records).toHaveLength(2);
    expect(target.stored[0]!.instance).toBe('verifier-test');
    await usage.close();
  });

  it('publishes on a flush what was queued then, and leaves records that come during its publish for the next', async () => {
    const target = sink();
    const usage = buffer(target);
    target.hold();
    for (let i = 0; i < 3; i += 1) usage.add(record(i));
    const flushed = usage.flush();
    await until(() => target.attempts.length === 1);
    // Under steady load a flush would otherwise chase the records coming in, one small batch per publish.
    for (let i = 3; i < 5; i += 1) usage.add(record(i));
    target.release();
    await flushed;
    expect(target.stored.map((b) => b.records.length)).toEqual([3]);
    expect(usage.counts()).toMatchObject({ queued: 2, published: 3, batches: 1 });
    await usage.close();
    expect(target.stored.map((b) => b.records.map((r) => r.at - 1_700_000_000_000))).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
  });

  it('is bounded: beyond its capacity it drops records and counts them, and takes records again once published', async () => {
    const target = sink();
    const usage = buffer(target, { capacity: 30 });
    target.hold();
    usage.start();
    for (let i = 0; i < 50; i += 1) usage.add(record(i));
    expect(usage.counts()).toMatchObject({ dropped: 20 });
    expect(usage.counts().queued + usage.counts().inFlight).toBe(30);
    target.release();
    await until(() => usage.counts().published === 30);
    usage.add(record(99));
    expect(usage.counts().dropped).toBe(20);
    await usage.close();
    expect(target.stored.flatMap((b) => b.records)).toHaveLength(31);
  });

  it('never waits on add, even while a publish hangs', () => {
    const target = sink();
    target.hold();
    const usage = buffer(target);
    const started = performance.now();
    for (let i = 0; i < 10_000; i += 1) usage.add(record(i));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(usage.counts().dropped).toBe(10_000 - 100);
    target.release();
  });

  it('retries a failed publish with the same batch id, and keeps order', async () => {
    const target = sink();
    const usage = buffer(target);
    target.failNext(2);
    usage.start();
    for (let i = 0; i < 20; i += 1) usage.add(record(i));
    await until(() => target.stored.length === 2);
    expect(target.attempts.map((a) => a.batchId)).toEqual([target.attempts[0]!.batchId, target.attempts[0]!.batchId, ...target.stored.map((b) => b.batchId)]);
    expect(target.stored.flatMap((b) => b.records.map((r) => r.at))).toEqual(Array.from({ length: 20 }, (_, i) => 1_700_000_000_000 + i));
    expect(usage.counts()).toMatchObject({ publishFailures: 2, dropped: 0, published: 20 });
    await usage.close();
  });

  it('splits a batch whose JSON would exceed the message size', async () => {
    const target = sink();
    const usage = buffer(target, { maxBatchBytes: 1200 });
    // Records that share no group (an address each), and one group too large for a message.
    for (let i = 0; i < 10; i += 1) usage.add({ ...record(i), ip: `192.0.2.${i}/${'x'.repeat(50)}` });
    await usage.flush();
    for (let i = 0; i < 10; i += 1) usage.add({ ...record(i * 300_000), scopes: Array.from({ length: 8 }, (_, s) => `scope-${s}:${'y'.repeat(80)}`) });
    await usage.flush();
    expect(target.stored.length).toBeGreaterThan(3);
    expect(target.attempts.every((a) => Buffer.byteLength(a.payload) <= 1200)).toBe(true);
    expect(new Set(target.stored.map((b) => b.batchId)).size).toBe(target.stored.length);
    expect(target.stored.flatMap((b) => b.records)).toHaveLength(20);
    expect(target.stored.flatMap((b) => b.records.filter((r) => r.scopes.length > 0).map((r) => r.at))).toEqual(
      Array.from({ length: 10 }, (_, i) => 1_700_000_000_000 + i * 300_000),
    );
    expect(usage.counts()).toMatchObject({ published: 20, batches: target.stored.length, queued: 0, inFlight: 0 });
  });

  it('sends the records equal in everything but time as one group, each time an offset from the earliest', async () => {
    const target = sink();
    const usage = buffer(target);
    for (let i = 0; i < 6; i += 1) usage.add({ ...record(10 - i), ip: i % 2 === 0 ? '10.0.0.1' : '10.0.0.2' });
    await usage.flush();
    expect(target.stored).toHaveLength(1);
    expect(target.stored[0]!.since).toBe(1_700_000_000_005);
    expect(usageBatchGroups(target.stored[0]!).map((g) => [g.fields.ip, g.at.map((at) => at - 1_700_000_000_005)])).toEqual([
      ['10.0.0.1', [5, 3, 1]],
      ['10.0.0.2', [4, 2, 0]],
    ]);
  });

  it('starts a new batch rather than let one span more than MAX_USAGE_BATCH_SPAN_MS, and publishes the old one at once', async () => {
    const target = sink();
    const usage = buffer(target);
    usage.add(record(0));
    usage.add(record(MAX_USAGE_BATCH_SPAN_MS));
    expect(usage.counts().queued).toBe(2);
    usage.add(record(MAX_USAGE_BATCH_SPAN_MS + 1));
    await until(() => target.stored.length === 1);
    expect(target.stored[0]!.records.map((r) => r.at - 1_700_000_000_000)).toEqual([0, MAX_USAGE_BATCH_SPAN_MS]);
    expect(usage.counts()).toMatchObject({ queued: 1, published: 2 });
    // Backwards too: a clock set back starts a batch of its own.
    usage.add(record(0));
    await until(() => target.stored.length === 2);
    await usage.close();
    expect(target.stored.map((b) => b.records.map((r) => r.at - 1_700_000_000_000))).toEqual([
      [0, MAX_USAGE_BATCH_SPAN_MS],
      [MAX_USAGE_BATCH_SPAN_MS + 1],
      [0],
    ]);
  });

  it('publishes what is left on close, and counts what it could not publish before the deadline', async () => {
    const target = sink();
    const usage = buffer(target, { flushIntervalMs: 60_000 });
    usage.start();
    for (let i = 0; i < 5; i += 1) usage.add(record(i));
    await usage.close();
    expect(target.stored.flatMap((b) => b.records)).toHaveLength(5);

    const down = sink();
    const stuck = buffer(down);
    down.failNext(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 5; i += 1) stuck.add(record(i));
    await stuck.close(100);
    expect(stuck.counts()).toMatchObject({ dropped: 5, published: 0 });
    stuck.add(record(6));
    expect(stuck.counts().dropped).toBe(6);
  });
});
