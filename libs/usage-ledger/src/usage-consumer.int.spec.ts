import type { KeyUsed, UsageBatch, UsageBatchV2 } from '@keyledger/contracts';
import { MESSAGE_HEADERS, USAGE_SCHEMA_VERSION, usageBatchGroups, usageBatchV3Schema } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, readStreamMessages } from '@keyledger/testing';
import { UsageBuffer, UsageGroups, jetStreamUsagePublisher, sealUsageBatchMessage } from '@keyledger/usage-recorder';
import type { UsageConsumerSettings } from './usage-consumer.js';
import { DEFAULT_USAGE_CONSUMER_SETTINGS, UsageConsumer } from './usage-consumer.js';
import { UsageLedger } from './usage-ledger.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2030, 1, 1, 12);

describe('usage consumer', () => {
  let ctx: TestContext;
  let ledger: UsageLedger;
  const consumers: UsageConsumer[] = [];

  beforeAll(async () => {
    ctx = await createTestContext('usageconsumer');
    ledger = new UsageLedger(ctx.appDb);
  });
  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
  });
  afterAll(() => ctx.close());

  const consumer = (overrides: Partial<UsageConsumerSettings> = {}, store: Pick<UsageLedger, 'ingest'> = ledger): UsageConsumer => {
    const started = new UsageConsumer(
      { nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, ledger: store, logger: ctx.logger, auth: ctx.auth },
      { ...DEFAULT_USAGE_CONSUMER_SETTINGS, ackWaitMs: 1000, ingestWaitMs: 200, redelivery: { maxDeliveries: 5, backoffMs: [50] }, ...overrides },
    );
    consumers.push(started);
    return started;
  };
  const used = (keyId: string, i: number): KeyUsed => ({
    keyId,
    tenant: 'acme',
    at: T0 + i,
    scopes: [],
    code: i % 3 === 0 ? 'NOT_FOUND' : 'VALID',
    cost: 0,
    transport: 'nats',
  });
  /** Publishes a batch's JSON as a verifier does: sealed under the id it is published with. */
  const publishSealed = async (payload: string, msgID: string): Promise<void> => {
    const sealed = sealUsageBatchMessage(ctx.auth.authenticator, { batchId: msgID, payload });
    await ctx.js.publish(ctx.topology.usageSubject, sealed.payload, { msgID, headers: sealed.headers });
  };
  const calls = async (keyId: string): Promise<number> => (await ledger.keyUsage(keyId, 'acme', { since: T0 - DAY, until: T0 + DAY }, 'day')).totals.calls;

  it('stores what the verifiers publish, exactly once, across a consumer restart', async () => {
    const key = newPrefixedId('key');
    const buffer = new UsageBuffer(
      { publish: jetStreamUsagePublisher(ctx.js, ctx.topology, ctx.auth.authenticator), instance: 'verifier-int', newBatchId: () => newPrefixedId('ub') },
      { capacity: 100_000, batchRecords: 500, flushIntervalMs: 20, maxBatchBytes: 512 * 1024, retryDelayMs: 10, maxRetryDelayMs: 100 },
    );
    buffer.start();
    for (let i = 0; i < 6000; i += 1) buffer.add(used(key, i));
    await buffer.flush();
    const first = consumer();
    await first.start();
    await eventually(
      'half stored',
      () => calls(key),
      (n) => n > 0,
    );
    await first.stop();
    for (let i = 6000; i < 10_000; i += 1) buffer.add(used(key, i));
    await buffer.close();
    expect(buffer.counts()).toMatchObject({ dropped: 0, published: 10_000 });
    await consumer().start();
    await eventually(
      'all stored',
      () => calls(key),
      (n) => n === 10_000,
    );
    await eventually(
      'nothing pending',
      () => first.backlog(),
      (b) => b.pending + b.ackPending === 0,
    );
    expect(await calls(key)).toBe(10_000);
  });

  it('stores sealed batches of versions 1 and 2 as it stores the same records in a batch of the current version, each once', async () => {
    const [old, middle, current] = [newPrefixedId('key'), newPrefixedId('key'), newPrefixedId('key')];
    const records = (keyId: string): KeyUsed[] => [
      ...Array.from({ length: 30 }, (_, i) => used(keyId, i)),
      ...Array.from({ length: 5 }, (_, i) => ({ ...used(keyId, 100 + i), ip: `10.0.0.${i % 2}`, scopes: ['orders:read', 'a,"b\\'] })),
    ];
    const v1: UsageBatch = { schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-old', createdAt: T0, records: records(old) };
    const groups = new UsageGroups();
    records(current).forEach((record) => groups.add(record));
    const [v3, ...more] = groups.encode({ instance: 'verifier-new', createdAt: T0, newBatchId: () => newPrefixedId('ub') }, 512 * 1024);
    expect(more).toHaveLength(0);
    expect(JSON.parse(v3!.payload)).toMatchObject({ schemaVersion: USAGE_SCHEMA_VERSION, since: T0 });
    // The same groups as a verifier of the version before published them.
    const middleGroups = new UsageGroups();
    records(middle).forEach((record) => middleGroups.add(record));
    const [encoded] = middleGroups.encode({ instance: 'verifier-middle', createdAt: T0, newBatchId: () => newPrefixedId('ub') }, 512 * 1024);
    const columns = usageBatchV3Schema.parse(JSON.parse(encoded!.payload));
    const v2: UsageBatchV2 = {
      schemaVersion: 2,
      batchId: columns.batchId,
      instance: columns.instance,
      createdAt: columns.createdAt,
      since: columns.since,
      groups: usageBatchGroups(columns).map(({ fields, at }) => ({ ...fields, at: at.map((time) => time - columns.since) })),
    };
    // Each published twice past JetStream's dedup, as a redelivery or a late retry would come.
    for (const suffix of ['-1', '-2']) {
      await publishSealed(JSON.stringify(v1), `${v1.batchId}${suffix}`);
      await publishSealed(JSON.stringify(v2), `${v2.batchId}${suffix}`);
      await publishSealed(v3!.payload, `${v3!.batchId}${suffix}`);
    }
    await consumer().start();
    await eventually(
      'all three stored',
      async () => [await calls(old), await calls(middle), await calls(current)],
      (counts) => counts.every((n) => n === 35),
    );
    await eventually(
      'all acked',
      () => consumers[0]!.backlog(),
      (b) => b.pending + b.ackPending === 0,
    );
    const rows = (keyId: string) =>
      ctx.ownerDb.query<{ at: Date; code: string; ip: string | null; scopes: string[]; transport: string }[]>(
        `select at, code, ip, scopes, transport from usage_records where key_id = $1 order by at, ip nulls first`,
        [keyId],
      );
    const stored = await rows(current);
    expect(stored).toHaveLength(35);
    expect(stored.at(-1)).toEqual({ at: new Date(T0 + 104), code: 'VALID', ip: '10.0.0.0', scopes: ['orders:read', 'a,"b\\'], transport: 'nats' });
    expect(await rows(old)).toEqual(stored);
    expect(await rows(middle)).toEqual(stored);
    const window = { since: T0 - DAY, until: T0 + DAY };
    const { keyId: _old, ...oldUsage } = await ledger.keyUsage(old, 'acme', window, 'minute');
    const { keyId: _middle, ...middleUsage } = await ledger.keyUsage(middle, 'acme', window, 'minute');
    const { keyId: _current, ...currentUsage } = await ledger.keyUsage(current, 'acme', window, 'minute');
    expect(currentUsage).toEqual(oldUsage);
    expect(middleUsage).toEqual(oldUsage);
  });

  it('counts a batch delivered again (published anew after the duplicate window) once', async () => {
    const key = newPrefixedId('key');
    const batch: UsageBatch = {
      schemaVersion: 1,
      batchId: newPrefixedId('ub'),
      instance: 'verifier-int',
      createdAt: T0,
      records: [used(key, 1), used(key, 2)],
    };
    await consumer().start();
    // JetStream's own dedup would drop a second publish with the same Nats-Msg-Id; a
    // redelivery after a crash, or a publish after the window, reaches the auditor.
    await publishSealed(JSON.stringify(batch), `${batch.batchId}-1`);
    await publishSealed(JSON.stringify(batch), `${batch.batchId}-2`);
    await eventually(
      'stored',
      () => calls(key),
      (n) => n === 2,
    );
    await eventually(
      'both acked',
      () => consumers[0]!.backlog(),
      (b) => b.pending + b.ackPending === 0,
    );
    expect(await calls(key)).toBe(2);
  });

  it('retries an ingest that failed until it succeeds, losing nothing', async () => {
    const key = newPrefixedId('key');
    let failures = 3;
    const flaky: Pick<UsageLedger, 'ingest'> = {
      ingest: (batches) => (failures-- > 0 ? Promise.reject(new Error('database unreachable')) : ledger.ingest(batches)),
    };
    await consumer({}, flaky).start();
    const batch: UsageBatch = { schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-int', createdAt: T0, records: [used(key, 1)] };
    await publishSealed(JSON.stringify(batch), batch.batchId);
    await eventually(
      'stored after retries',
      () => calls(key),
      (n) => n === 1,
      20_000,
    );
    expect(failures).toBeLessThan(0);
  });

  it('stores the batches that arrive within the ingest wait in one statement, and none waits longer', async () => {
    const ingests = async (ingestWaitMs: number): Promise<number[]> => {
      const key = newPrefixedId('key');
      const sizes: number[] = [];
      const counting: Pick<UsageLedger, 'ingest'> = {
        ingest: (batches) => {
          // Only this case's batches: the durable is the file's, and an earlier case's may still come by.
          const ours = batches.filter((batch) => batch.schemaVersion === 1 && batch.records[0]?.keyId === key).length;
          if (ours > 0) sizes.push(ours);
          return ledger.ingest(batches);
        },
      };
      // JetStream redelivers what is not acked within ack wait, so it must outlast the ingest wait.
      const started = consumer({ ingestWaitMs, ackWaitMs: 10_000 }, counting);
      await started.start();
      // Three batches 500 ms apart: one wait of 4 s holds them all; no wait stores each alone.
      for (let i = 0; i < 3; i += 1) {
        const batch: UsageBatch = { schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-int', createdAt: T0, records: [used(key, i + 1)] };
        await publishSealed(JSON.stringify(batch), batch.batchId);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await eventually(
        'all stored',
        () => calls(key),
        (n) => n === 3,
      );
      await started.stop();
      return sizes;
    };
    expect(await ingests(4000)).toEqual([3]);
    expect(await ingests(0)).toEqual([1, 1, 1]);
  });

  it('refuses an ingest wait that JetStream would redeliver within', () => {
    expect(() => consumer({ ingestWaitMs: 1000, ackWaitMs: 1500 })).toThrow(/ingest wait .* ack wait/);
  });

  it('dead-letters an authentic message that is not a usage batch, and stores the others', async () => {
    const key = newPrefixedId('key');
    await consumer().start();
    await publishSealed('{"schemaVersion":1,"records":"nope"}', newPrefixedId('ub'));
    const twice: unknown = {
      schemaVersion: 2,
      batchId: newPrefixedId('ub'),
      instance: 'verifier-int',
      createdAt: T0,
      since: T0,
      groups: [{ ...used(key, 0), fingerprint: '0123456789abcdef', at: [0] }],
    };
    await publishSealed(JSON.stringify(twice), newPrefixedId('ub'));
    // The same in columns, and columns that disagree (an index past its table).
    const groups = new UsageGroups();
    groups.add(used(key, 0));
    const [encoded] = groups.encode({ instance: 'verifier-int', createdAt: T0, newBatchId: () => newPrefixedId('ub') }, 512 * 1024);
    const columns = usageBatchV3Schema.parse(JSON.parse(encoded!.payload));
    await publishSealed(
      JSON.stringify({ ...columns, fingerprints: ['0123456789abcdef'], groups: { ...columns.groups, fingerprint: [0] } }),
      newPrefixedId('ub'),
    );
    await publishSealed(JSON.stringify({ ...columns, groups: { ...columns.groups, ip: [3] } }), newPrefixedId('ub'));
    await publishSealed(JSON.stringify({ ...columns, at: [0.5] }), newPrefixedId('ub'));
    const good: UsageBatch = { schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-int', createdAt: T0, records: [used(key, 1)] };
    await publishSealed(JSON.stringify(good), good.batchId);
    await eventually(
      'good batch stored',
      () => calls(key),
      (n) => n === 1,
    );
    const dead = await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 5, 10_000);
    expect(new Set(dead.map((message) => message.subject))).toEqual(new Set([`${ctx.topology.subjectPrefix}.dlq.auditor-usage`]));
    const reasons = dead.map((message) => message.headers?.get(MESSAGE_HEADERS.deadLetterReason));
    expect(reasons[0]).toMatch(/not a valid batch/);
    expect(reasons[1]).toMatch(/not a valid batch: groups\.0 .*by id or by fingerprint, not both/);
    expect(reasons[2]).toMatch(/not a valid batch: groups\.fingerprint\.0 .*by id or by fingerprint, not both/);
    expect(reasons[3]).toMatch(/not a valid batch: groups\.ip\.0 names entry 3 of a table of 0/);
    expect(reasons[4]).toMatch(/not a valid batch: at\.0 must be integer/);
  });

  it('dead-letters a batch from a clock past year 9999 instead of failing every ingest it joins', async () => {
    const key = newPrefixedId('key');
    await consumer().start();
    const wild: UsageBatch = { schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-int', createdAt: 1e17, records: [used(key, 1)] };
    await publishSealed(JSON.stringify(wild), wild.batchId);
    const good: UsageBatch = { schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-int', createdAt: T0, records: [used(key, 1)] };
    await publishSealed(JSON.stringify(good), good.batchId);
    await eventually(
      'good batch stored',
      () => calls(key),
      (n) => n === 1,
    );
    const dead = await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 1, 10_000);
    expect(dead.some((message) => message.headers?.get(MESSAGE_HEADERS.deadLetterReason)?.includes('not a valid batch'))).toBe(true);
  });
});
