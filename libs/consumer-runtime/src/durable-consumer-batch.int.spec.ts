import { MESSAGE_HEADERS } from '@keyledger/contracts';
import { ensureEventStreams } from '@keyledger/event-bus';
import type { TestContext } from '@keyledger/testing';
import { APP_ROLE, TEST_STREAM_MAX_BYTES, createTestContext, eventually, readStreamMessages } from '@keyledger/testing';
import type { BatchHandler, BatchMode } from './consumer-mode.js';
import { DurableConsumer } from './durable-consumer.js';

interface Item {
  readonly id: string;
  readonly n: number;
}

/**
 * Stores items in `batch_items` once each (`on conflict do nothing`), in one statement per
 * call, and records the size of every call; `failures` makes the next calls throw, before
 * or (`afterCommit`) after their statement committed, as a crash between commit and ack would.
 */
class RecordingStore implements BatchHandler<Item> {
  readonly calls: number[] = [];
  failures = 0;
  afterCommit = false;

  constructor(private readonly ctx: TestContext) {}

  decode(data: Uint8Array): Item {
    const item = JSON.parse(new TextDecoder().decode(data)) as Partial<Item>;
    if (typeof item.id !== 'string' || typeof item.n !== 'number') throw new TypeError(`not an item: ${JSON.stringify(item)}`);
    return { id: item.id, n: item.n };
  }

  id(item: Item): string {
    return item.id;
  }

  occurredAt(): string | undefined {
    return undefined;
  }

  async store(items: readonly Item[]): Promise<{ duplicateIds: string[] }> {
    this.calls.push(items.length);
    const fail = this.failures > 0;
    if (fail) this.failures -= 1;
    if (fail && !this.afterCommit) throw new Error('simulated: database unreachable');
    const inserted = await this.ctx.appDb.query<{ id: string }[]>(
      `insert into batch_items (id, n) select * from unnest($1::text[], $2::int[]) on conflict do nothing returning id`,
      [items.map((item) => item.id), items.map((item) => item.n)],
    );
    if (fail) throw new Error('simulated: connection lost after commit');
    const stored = new Set(inserted.map((row) => row.id));
    return { duplicateIds: items.map((item) => item.id).filter((id) => !stored.has(id)) };
  }
}

describe('DurableConsumer in batch mode', () => {
  let ctx: TestContext;
  let store: RecordingStore;
  let consumer: DurableConsumer<Item> | undefined;

  const start = async (mode: Partial<BatchMode<Item>> = {}, ackWaitMs = 5000): Promise<DurableConsumer<Item>> => {
    consumer = new DurableConsumer<Item>(
      { nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, logger: ctx.logger },
      { name: 'batching', stream: ctx.topology.usageStream, filterSubject: ctx.topology.usageSubjects },
      { kind: 'batch', handler: store, maxMessages: 8, maxWaitMs: 0, ...mode },
      { redelivery: { maxDeliveries: 3, backoffMs: [50, 100] }, ackWaitMs },
    );
    await consumer.start();
    return consumer;
  };
  const publish = (payload: unknown, msgID: string) => ctx.js.publish(ctx.topology.usageSubject, JSON.stringify(payload), { msgID });
  const rows = () => ctx.ownerDb.query<Item[]>(`select id, n from batch_items order by n`);
  const settled = (running: DurableConsumer<Item>) =>
    eventually(
      'nothing pending or unacknowledged',
      () => running.backlog(),
      (backlog) => backlog.pending + backlog.ackPending === 0,
    );

  /** Waits until `received` holds `count` ids. */
  const receivedSoFar = (received: readonly string[], count: number, timeoutMs?: number) =>
    eventually(
      `${count} received`,
      () => Promise.resolve(received),
      (ids) => ids.length === count,
      timeoutMs,
    );
  /** The recording store's handler with a `receive` of the case's own. */
  const receivingHandler = (receive: NonNullable<BatchHandler<Item>['receive']>): BatchHandler<Item> => ({
    decode: (data) => store.decode(data),
    id: (item) => item.id,
    occurredAt: () => undefined,
    store: (items) => store.store(items),
    receive,
  });

  beforeEach(async () => {
    ctx = await createTestContext('batchconsumer');
    await ctx.ownerDb.query(`create table batch_items (id text primary key, n int not null)`);
    await ctx.ownerDb.query(`grant select, insert on batch_items to ${APP_ROLE}`);
    store = new RecordingStore(ctx);
  });

  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
    await ctx.close();
  });

  it('stores every message once, at most maxMessages per call, and acks them', async () => {
    for (let n = 0; n < 50; n += 1) await publish({ id: `i${n}`, n }, `m${n}`);
    const running = await start();
    await eventually('all stored', rows, (r) => r.length === 50);
    await settled(running);
    expect(Math.max(...store.calls)).toBeLessThanOrEqual(8);
    expect(store.calls.reduce((sum, size) => sum + size, 0)).toBe(50);
    expect(running.counts()).toMatchObject({ applied: 50, duplicate: 0, 'retry-scheduled': 0, 'dead-lettered': 0 });
  });

  it('waits up to maxWaitMs for a batch to fill', async () => {
    await start({ maxMessages: 5, maxWaitMs: 1500 });
    for (let n = 0; n < 7; n += 1) await publish({ id: `w${n}`, n }, `w${n}`);
    await eventually('all stored', rows, (r) => r.length === 7);
    expect(store.calls).toEqual([5, 2]);
  });

  it("hands each item to the handler's receive as it arrives, and stores and acks them when the wait is over", async () => {
    const received: string[] = [];
    const receiving = receivingHandler((items) => {
      received.push(...items.map((item) => item.id));
      // A receive that fails is the handler's to report through its store; the batch goes on.
      return items.some((item) => item.n === 1) ? Promise.reject(new Error('simulated: receive failed')) : Promise.resolve();
    });
    const running = await start({ handler: receiving, maxMessages: 10, maxWaitMs: 8000 }, 30_000);
    await publish({ id: 'r0', n: 0 }, 'r0');
    await receivedSoFar(received, 1);
    await publish({ id: 'r1', n: 1 }, 'r1');
    await publish({ id: 'r2', n: 2 }, 'r2');
    await receivedSoFar(received, 3);
    // Received, neither stored nor acked while the batch waits.
    expect(store.calls).toEqual([]);
    expect((await running.backlog()).ackPending).toBe(3);
    await eventually('stored', rows, (r) => r.length === 3);
    await settled(running);
    expect(received).toEqual(['r0', 'r1', 'r2']);
    expect(store.calls).toEqual([3]);
  });

  it('receives a message that arrives while receive is busy without waiting for the end of the batch', async () => {
    const received: string[] = [];
    const slow = receivingHandler(async (items) => {
      received.push(...items.map((item) => item.id));
      // The second message is published while the first is being received.
      if (items.some((item) => item.n === 0)) await new Promise((resolve) => setTimeout(resolve, 500));
    });
    const running = await start({ handler: slow, maxMessages: 10, maxWaitMs: 20_000 }, 60_000);
    await publish({ id: 'b0', n: 0 }, 'b0');
    await receivedSoFar(received, 1);
    await publish({ id: 'b1', n: 1 }, 'b1');
    // Well before the batch's 20 s are over.
    await receivedSoFar(received, 2, 5000);
    expect(store.calls).toEqual([]);
    await running.stop();
    expect(store.calls).toEqual([2]);
  });

  it('gives a batch still filling back to the stream unstored when stopped with abandon, and tells the handler', async () => {
    let abandoned = 0;
    const abandoning: BatchHandler<Item> = {
      ...receivingHandler(() => Promise.resolve()),
      abandon: () => {
        abandoned += 1;
      },
    };
    const first = await start({ handler: abandoning, maxMessages: 5, maxWaitMs: 60_000 }, 3000);
    for (let n = 0; n < 3; n += 1) await publish({ id: `a${n}`, n }, `a${n}`);
    await eventually(
      'delivered, not acknowledged',
      () => first.backlog(),
      (backlog) => backlog.ackPending === 3,
    );
    await first.stop({ abandon: true });
    expect(abandoned).toBe(1);
    expect(store.calls).toEqual([]);
    // Nak'ed: back at once, or (one the server hands to the stopped pull request, which it keeps
    // until it expires) after the ack wait; stored by the next instance, each once.
    const next = await start({ maxMessages: 5, maxWaitMs: 0 }, 3000);
    await eventually('stored by the next', rows, (r) => r.length === 3);
    await settled(next);
    expect(store.calls.reduce((sum, size) => sum + size, 0)).toBe(3);
  });

  it('stores the messages of a batch still filling when it stops, rather than leaving them to the ack wait', async () => {
    // A batch that waits longer than the test for more messages: stopped while it waits.
    const first = await start({ maxMessages: 5, maxWaitMs: 60_000 }, 30_000);
    for (let n = 0; n < 3; n += 1) await publish({ id: `s${n}`, n }, `s${n}`);
    await eventually(
      'delivered, not acknowledged',
      () => first.backlog(),
      (backlog) => backlog.ackPending === 3,
    );
    expect(await rows()).toEqual([]);
    await first.stop();
    expect((await rows()).map((row) => row.id)).toEqual(['s0', 's1', 's2']);
    await settled(first);
    expect(store.calls).toEqual([3]);
  });

  it('dead-letters a message that does not decode at once, and stores the rest of its batch', async () => {
    await publish({ id: 'a', n: 1 }, 'p1');
    await publish({ nope: true }, 'p2');
    await publish({ id: 'b', n: 2 }, 'p3');
    const running = await start();
    const [dead] = await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 1);
    expect(dead?.subject).toBe(`${ctx.topology.subjectPrefix}.dlq.batching`);
    expect(dead?.string()).toBe('{"nope":true}');
    expect(dead?.headers?.get(MESSAGE_HEADERS.deadLetterReason)).toMatch(/^TypeError: not an item/);
    expect(dead?.headers?.get(MESSAGE_HEADERS.deadLetterDeliveries)).toBe('1');
    // The dead letter goes out while its batch is being decoded, before the store.
    const stored = await eventually('the others stored', rows, (r) => r.length === 2);
    expect(stored.map((row) => row.id)).toEqual(['a', 'b']);
    // Terminated, not left unacknowledged for JetStream to redeliver after ack_wait.
    await settled(running);
    expect(running.counts()).toMatchObject({ applied: 2, 'dead-lettered': 1 });
  });

  it('redelivers a batch whose store failed, past maxDeliveries, and stores each message once', async () => {
    store.failures = 4;
    const running = await start();
    for (let n = 0; n < 10; n += 1) await publish({ id: `f${n}`, n }, `f${n}`);
    const stored = await eventually('stored after the failures', rows, (r) => r.length === 10, 20_000);
    expect(stored.map((row) => row.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await settled(running);
    expect(store.failures).toBe(0);
    // A store failure is not a poison message: nothing is dead-lettered, however often it is retried.
    expect(running.counts()).toMatchObject({ applied: 10, duplicate: 0, 'dead-lettered': 0 });
    expect(running.counts()['retry-scheduled']).toBeGreaterThanOrEqual(4);
  });

  it('acks as duplicates the messages of a batch redelivered after its store committed', async () => {
    store.failures = 1;
    store.afterCommit = true;
    const running = await start();
    for (let n = 0; n < 3; n += 1) await publish({ id: `c${n}`, n }, `c${n}`);
    await eventually(
      'the redelivered batch acked',
      () => running.counts(),
      (counts) => counts.applied + counts.duplicate === 3,
      20_000,
    );
    await settled(running);
    expect((await rows()).map((row) => row.id)).toEqual(['c0', 'c1', 'c2']);
    expect(running.counts().duplicate).toBeGreaterThanOrEqual(1);
  });

  it('stores a message delivered twice in one batch once', async () => {
    await publish({ id: 'twice', n: 1 }, 't1');
    await publish({ id: 'twice', n: 1 }, 't2');
    // Waiting for the batch to fill puts both in one call.
    const running = await start({ maxMessages: 2, maxWaitMs: 2000 });
    await eventually(
      'both acked',
      () => running.counts(),
      (counts) => counts.applied + counts.duplicate === 2,
    );
    expect(running.counts()).toMatchObject({ applied: 1, duplicate: 1 });
    expect(store.calls).toEqual([1]);
    expect(await rows()).toEqual([{ id: 'twice', n: 1 }]);
  });

  it('keeps redelivering rather than dropping a message whose dead letter cannot be stored', async () => {
    await ctx.jsm.streams.delete(ctx.topology.deadLetterStream);
    await publish('poison', 'x1');
    const running = await start();
    await eventually(
      'redelivered',
      () => running.counts()['retry-scheduled'],
      (n) => n >= 2,
      20_000,
    );
    expect(running.counts()['dead-lettered']).toBe(0);
    await ensureEventStreams(ctx.jsm, ctx.topology, { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0, maxBytes: TEST_STREAM_MAX_BYTES });
    const [dead] = await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 1);
    expect(dead?.string()).toBe('"poison"');
  });
});
