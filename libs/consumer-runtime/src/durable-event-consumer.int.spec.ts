import { MESSAGE_HEADERS } from '@keyledger/contracts';
import type { EventEnvelope } from '@keyledger/contracts';
import { ensureEventStreams } from '@keyledger/event-bus';
import { NO_STREAM } from '@keyledger/event-store';
import type { Registry } from '@keyledger/observability';
import { createMetricsRegistry } from '@keyledger/observability';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { TestContext } from '@keyledger/testing';
import { APP_ROLE, TEST_STREAM_MAX_BYTES, createTestContext, eventually, readStreamMessages, testEvent } from '@keyledger/testing';
import type { ConsumerMetrics } from './consumer-metrics.js';
import { consumerMetrics } from './consumer-metrics.js';
import { DurableEventConsumer } from './durable-event-consumer.js';
import type { Projection, ProjectionTransaction } from './projection.js';
import { rebuildProjection } from './projection-rebuild.js';

/** Counts applications per event, so applying one twice is visible. */
class CountingProjection implements Projection {
  readonly name = 'counting';
  readonly category = 'key';
  /** Event ids whose handler throws for the first N attempts (Infinity: always). */
  readonly failures = new Map<string, number>();
  readonly attempts = new Map<string, number>();

  async apply(event: EventEnvelope, tx: ProjectionTransaction): Promise<void> {
    const attempt = (this.attempts.get(event.eventId) ?? 0) + 1;
    this.attempts.set(event.eventId, attempt);
    if (attempt <= (this.failures.get(event.eventId) ?? 0)) throw new Error(`simulated failure ${attempt} of ${event.eventId}`);
    await tx.query(
      `insert into counting_projection (event_id, stream_id, applied) values ($1, $2, 1)
       on conflict (event_id) do update set applied = counting_projection.applied + 1`,
      [event.eventId, event.streamId],
    );
  }

  async reset(tx: ProjectionTransaction): Promise<void> {
    await tx.query(`delete from counting_projection`);
  }
}

/** The value of one series (`name`, or a histogram's `name_count`) with these labels; undefined when absent. */
async function sample(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name.replace(/_count$/, ''))?.get();
  const series = metric?.values.find(
    (value) =>
      ((value as { metricName?: string }).metricName ?? metric.name) === name &&
      Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted),
  );
  return series?.value;
}

async function projectionRows(ctx: TestContext): Promise<{ event_id: string; applied: number }[]> {
  return await ctx.ownerDb.query<{ event_id: string; applied: number }[]>(`select event_id::text, applied from counting_projection order by event_id`);
}

describe('DurableEventConsumer', () => {
  let ctx: TestContext;
  let relay: OutboxRelay;
  let projection: CountingProjection;
  let consumer: DurableEventConsumer | undefined;
  let registry: Registry;
  let metrics: ConsumerMetrics;

  const startConsumer = async (): Promise<DurableEventConsumer> => {
    consumer = new DurableEventConsumer(
      { dataSource: ctx.appDb, nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, projection, logger: ctx.logger, auth: ctx.auth, onDelivery: metrics.onDelivery },
      { redelivery: { maxDeliveries: 3, backoffMs: [50, 100] }, ackWaitMs: 5000, prefetch: 16 },
    );
    metrics.watch(consumer);
    await consumer.start();
    return consumer;
  };

  beforeEach(async () => {
    ctx = await createTestContext('consumer');
    await ctx.ownerDb.query(`create table counting_projection (event_id uuid primary key, stream_id text not null, applied int not null)`);
    await ctx.ownerDb.query(`grant select, insert, update, delete on counting_projection to ${APP_ROLE}`);
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { batchSize: 100, pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
    projection = new CountingProjection();
    registry = createMetricsRegistry('test');
    metrics = consumerMetrics(registry);
  });

  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
    await relay.stop();
    await ctx.close();
  });

  it('applies every event once, in one transaction with its inbox row', async () => {
    await ctx.store.append('key-c1', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 }), testEvent({ n: 3 })]);
    const running = await startConsumer();
    const rows = await eventually(
      '3 events applied',
      () => projectionRows(ctx),
      (r) => r.length === 3,
    );
    expect(rows.every((row) => row.applied === 1)).toBe(true);
    const [checkpoint] = await ctx.ownerDb.query<{ position: string }[]>(`select position::text from consumer_checkpoints where consumer = 'counting'`);
    const stored = await ctx.store.readStream('key-c1');
    expect(checkpoint?.position).toBe(stored[2]?.position);
    expect(running.counts()).toMatchObject({ applied: 3, 'dead-lettered': 0 });
  });

  it('redelivers after a transient handler failure and then applies the event once', async () => {
    const { events } = await ctx.store.append('key-c2', NO_STREAM, [testEvent({ flaky: true })]);
    projection.failures.set(events[0]!.eventId, 2);
    const running = await startConsumer();
    await eventually(
      'flaky event applied',
      () => projectionRows(ctx),
      (r) => r.length === 1,
    );
    expect(projection.attempts.get(events[0]!.eventId)).toBe(3);
    expect((await projectionRows(ctx))[0]?.applied).toBe(1);
    expect(running.counts()).toMatchObject({ applied: 1, 'retry-scheduled': 2, 'dead-lettered': 0 });
  });

  it('dead-letters an event whose handler always fails, and keeps consuming the rest', async () => {
    const { events } = await ctx.store.append('key-c3', NO_STREAM, [testEvent({ poison: true }), testEvent({ fine: true })]);
    const poison = events[0]!.eventId;
    projection.failures.set(poison, Number.POSITIVE_INFINITY);
    const running = await startConsumer();
    const [dead] = await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 1);
    expect(dead?.subject).toBe(`${ctx.topology.subjectPrefix}.dlq.counting`);
    expect(dead?.json<EventEnvelope>().eventId).toBe(poison);
    expect(dead?.headers?.get(MESSAGE_HEADERS.deadLetterReason)).toContain('simulated failure 3');
    expect(dead?.headers?.get(MESSAGE_HEADERS.deadLetterDeliveries)).toBe('3');
    expect(projection.attempts.get(poison)).toBe(3);
    const rows = await eventually(
      'the healthy event applied',
      () => projectionRows(ctx),
      (r) => r.length === 1,
    );
    expect(rows[0]?.event_id).toBe(events[1]!.eventId);
    await eventually(
      'outcome counted',
      () => running.counts()['dead-lettered'],
      (n) => n === 1,
    );
    // Terminated, not left unacknowledged for JetStream to redeliver after ack_wait.
    await eventually(
      'nothing awaiting an ack',
      async () => (await ctx.jsm.consumers.info(ctx.topology.eventStream, 'counting')).num_ack_pending,
      (n) => n === 0,
      3000,
    );
  });

  it('counts redeliveries, dead letters and lag, and shows the backlog JetStream holds for a stopped consumer', async () => {
    const { events } = await ctx.store.append('key-m1', NO_STREAM, [testEvent({ poison: true }), testEvent({ fine: true })]);
    projection.failures.set(events[0]!.eventId, Number.POSITIVE_INFINITY);
    const running = await startConsumer();
    await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 1);
    await eventually(
      'both events handled',
      () => running.counts(),
      (counts) => counts.applied === 1 && counts['dead-lettered'] === 1,
    );
    const counting = { consumer: 'counting' };
    expect(await sample(registry, 'keyledger_consumer_deliveries_total', { ...counting, outcome: 'applied' })).toBe(1);
    expect(await sample(registry, 'keyledger_consumer_deliveries_total', { ...counting, outcome: 'retry-scheduled' })).toBe(2);
    expect(await sample(registry, 'keyledger_consumer_deliveries_total', { ...counting, outcome: 'dead-lettered' })).toBe(1);
    expect(await sample(registry, 'keyledger_consumer_redeliveries_total', counting)).toBe(2);
    expect(await sample(registry, 'keyledger_consumer_dead_letters_total', counting)).toBe(1);
    expect(await sample(registry, 'keyledger_consumer_lag_seconds_count', counting)).toBe(1);
    expect(
      await eventually(
        'nothing left in JetStream',
        () => sample(registry, 'keyledger_consumer_pending_messages', counting),
        (n) => n === 0,
      ),
    ).toBe(0);

    await running.stop();
    await ctx.store.append('key-m2', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 }), testEvent({ n: 3 })]);
    expect(
      await eventually(
        'the backlog of the stopped consumer',
        () => sample(registry, 'keyledger_consumer_pending_messages', counting),
        (n) => n === 3,
      ),
    ).toBe(3);
    expect(await registry.metrics()).toMatch(/^keyledger_consumer_pending_messages\{consumer="counting",service="test"\} 3$/m);
  });

  it('refuses a message that is not a sealed event envelope: acknowledged, reported, never applied nor dead-lettered', async () => {
    const running = await startConsumer();
    await ctx.js.publish(`${ctx.topology.subjectPrefix}.events.key.KeyIssued`, '{"not":"an envelope"}', { msgID: 'garbage-1' });
    await ctx.store.append('key-g1', NO_STREAM, [testEvent({ after: 'garbage' })]);
    await eventually('the event after the garbage applied', () => running.counts().applied, (n) => n === 1);
    expect(running.counts()).toMatchObject({ rejected: 1, applied: 1, 'dead-lettered': 0 });
    expect(ctx.auth.rejections.all).toEqual([expect.objectContaining({ source: 'bus', reason: 'malformed', subject: `${ctx.topology.subjectPrefix}.events.key.KeyIssued` })]);
    expect((await ctx.jsm.streams.info(ctx.topology.deadLetterStream)).state.messages).toBe(0);
    expect(await running.backlog()).toEqual({ pending: 0, ackPending: 0 });
  });

  it('skips events redelivered after they were applied (consumer recreated from the start)', async () => {
    await ctx.store.append('key-c4', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
    await startConsumer();
    await eventually(
      '2 events applied',
      () => projectionRows(ctx),
      (r) => r.length === 2,
    );
    await consumer!.stop();
    // A new durable with the same name starts again from the first message of the stream.
    await ctx.jsm.consumers.delete(ctx.topology.eventStream, 'counting');
    const again = await startConsumer();
    await eventually(
      'both redeliveries seen',
      () => again.counts().duplicate,
      (n) => n === 2,
    );
    expect((await projectionRows(ctx)).map((row) => row.applied)).toEqual([1, 1]);
  });

  it('rebuilds the projection from position 0 straight from the store, without the bus', async () => {
    for (let i = 0; i < 5; i += 1) await ctx.store.append(`key-r${i}`, NO_STREAM, [testEvent({ i }), testEvent({ i, again: true })]);
    await startConsumer();
    const before = await eventually(
      '10 events applied',
      () => projectionRows(ctx),
      (r) => r.length === 10,
    );
    await consumer!.stop();
    consumer = undefined;
    await relay.stop();
    // Damage the read model, then rebuild it from the store alone.
    await ctx.ownerDb.query(`update counting_projection set applied = 99`);
    await ctx.ownerDb.query(`delete from counting_projection where stream_id = 'key-r0'`);
    const result = await rebuildProjection(ctx.appDb, ctx.store, projection);
    expect(result.eventsApplied).toBe(10);
    expect(await projectionRows(ctx)).toEqual(before);
    relay.start();
  });

  it('keeps redelivering rather than dropping an event whose dead letter cannot be stored', async () => {
    const { events } = await ctx.store.append('key-c5', NO_STREAM, [testEvent({ poison: true })]);
    projection.failures.set(events[0]!.eventId, Number.POSITIVE_INFINITY);
    await ctx.jsm.streams.delete(ctx.topology.deadLetterStream);
    const running = await startConsumer();
    await eventually(
      'more deliveries than the dead-letter limit',
      () => projection.attempts.get(events[0]!.eventId) ?? 0,
      (n) => n >= 5,
      20_000,
    );
    expect(running.counts()['dead-lettered']).toBe(0);
    await ensureEventStreams(ctx.jsm, ctx.topology, { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0, maxBytes: TEST_STREAM_MAX_BYTES });
    const [dead] = await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 1);
    expect(dead?.json<EventEnvelope>().eventId).toBe(events[0]!.eventId);
  });

  it("rebuilds only the projection's own category", async () => {
    await ctx.store.append('key-k1', NO_STREAM, [testEvent()]);
    await ctx.store.append('tenant-t1', NO_STREAM, [testEvent()]);
    const result = await rebuildProjection(ctx.appDb, ctx.store, projection);
    expect(result.eventsApplied).toBe(1);
    expect((await projectionRows(ctx)).length).toBe(1);
  });
});
