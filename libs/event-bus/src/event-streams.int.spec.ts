import { DiscardPolicy } from '@nats-io/jetstream';
import { MESSAGE_HEADERS } from '@keyledger/contracts';
import { NO_STREAM, START_OF_LOG } from '@keyledger/event-store';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { TestContext } from '@keyledger/testing';
import { TEST_STREAM_MAX_BYTES, TEST_STREAM_SETTINGS, createTestContext, eventually, readStreamMessages, testEvent } from '@keyledger/testing';
import { busTopology } from './bus-topology.js';
import { EventStreamNotReady, ensureEventStreams, eventStreamConfigs } from './event-streams.js';

describe('ensureEventStreams', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext('streams');
  });

  afterAll(async () => {
    await ctx?.close();
  });

  async function config(name: string): Promise<{ max_bytes: number; discard: DiscardPolicy }> {
    return (await ctx.jsm.streams.info(name)).config;
  }

  it('bounds every stream, and keeps unconsumed events and usage by refusing new messages when full', async () => {
    const { topology } = ctx;
    expect(await config(topology.eventStream)).toMatchObject({ max_bytes: TEST_STREAM_MAX_BYTES.events, discard: DiscardPolicy.New });
    expect(await config(topology.deadLetterStream)).toMatchObject({ max_bytes: TEST_STREAM_MAX_BYTES.deadLetters, discard: DiscardPolicy.Old });
    expect(await config(topology.usageStream)).toMatchObject({ max_bytes: TEST_STREAM_MAX_BYTES.usage, discard: DiscardPolicy.New });
    expect(await config(topology.deliveryStream)).toMatchObject({ max_bytes: TEST_STREAM_MAX_BYTES.delivery, discard: DiscardPolicy.New });
    expect(await config(topology.notificationStream)).toMatchObject({ max_bytes: TEST_STREAM_MAX_BYTES.notifications, discard: DiscardPolicy.Old });
  });

  it('updates the limits of existing streams', async () => {
    const { topology } = ctx;
    await ensureEventStreams(ctx.jsm, topology, { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0, maxBytes: { ...TEST_STREAM_MAX_BYTES, events: 8192 } });
    expect((await config(topology.eventStream)).max_bytes).toBe(8192);
    expect((await config(topology.usageStream)).max_bytes).toBe(TEST_STREAM_MAX_BYTES.usage);
  });

  it('only checks the streams without leave to configure them: a missing or different one is refused and left as it is', async () => {
    const { topology } = ctx;
    await ensureEventStreams(ctx.jsm, topology, TEST_STREAM_SETTINGS);
    expect(await ensureEventStreams(ctx.jsm, topology, TEST_STREAM_SETTINGS, { configure: false })).toEqual(
      eventStreamConfigs(topology).map(({ name }) => ({ stream: name, outcome: 'unchanged' })),
    );
    const larger = { ...TEST_STREAM_SETTINGS, maxBytes: { ...TEST_STREAM_MAX_BYTES, usage: TEST_STREAM_MAX_BYTES.usage + 1024 } };
    const refusal = await ensureEventStreams(ctx.jsm, topology, larger, { configure: false }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(EventStreamNotReady);
    expect(refusal).toMatchObject({
      stream: topology.usageStream,
      differences: [`max_bytes is ${TEST_STREAM_MAX_BYTES.usage}, expected ${TEST_STREAM_MAX_BYTES.usage + 1024}`],
    });
    expect((await config(topology.usageStream)).max_bytes).toBe(TEST_STREAM_MAX_BYTES.usage);

    const absent = busTopology(`${topology.subjectPrefix}_absent`, `${topology.eventStream}_ABSENT`);
    await expect(ensureEventStreams(ctx.jsm, absent, TEST_STREAM_SETTINGS, { configure: false })).rejects.toThrow(
      `stream ${absent.eventStream} does not exist: run \`keyledger migrate\``,
    );
    await expect(ctx.jsm.streams.info(absent.eventStream)).rejects.toThrow(/stream not found/);

    // With leave, the same call brings the stream in line, and says so.
    const outcomes = await ensureEventStreams(ctx.jsm, topology, larger, { configure: true });
    expect(outcomes.filter(({ outcome }) => outcome !== 'unchanged')).toEqual([{ stream: topology.usageStream, outcome: 'updated' }]);
    expect((await config(topology.usageStream)).max_bytes).toBe(TEST_STREAM_MAX_BYTES.usage + 1024);
    await ensureEventStreams(ctx.jsm, topology, TEST_STREAM_SETTINGS);
  });

  it('refuses an event that does not fit in a full event stream, and keeps the first', async () => {
    const { topology } = ctx;
    await ensureEventStreams(ctx.jsm, topology, { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0, maxBytes: { ...TEST_STREAM_MAX_BYTES, events: 8192 } });
    const subject = `${topology.subjectPrefix}.events.key.KeyIssued`;
    const body = 'x'.repeat(1000);
    let refused: unknown;
    let stored = 0;
    for (let i = 0; i < 20 && refused === undefined; i += 1) {
      try {
        await ctx.js.publish(subject, body, { msgID: `fill-${i}` });
        stored += 1;
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toBeInstanceOf(Error);
    expect(String(refused)).toMatch(/maximum bytes exceeded/i);
    const state = (await ctx.jsm.streams.info(topology.eventStream)).state;
    // Nothing was dropped to make room: the first event is still the first.
    expect(state.first_seq).toBe(1);
    expect(state.messages).toBe(stored);
    expect(stored).toBeGreaterThan(0);
  });
});

describe('a full event stream', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext('fullstream');
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('refuses the relay, which keeps the events in the store and publishes them, in order, once there is room', async () => {
    const tiny = { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0, maxBytes: { ...TEST_STREAM_MAX_BYTES, events: 16 * 1024 } };
    await ensureEventStreams(ctx.jsm, ctx.topology, tiny);
    for (let n = 0; n < 60; n += 1) await ctx.store.append(`key-full${n}`, NO_STREAM, [testEvent({ n, padding: 'x'.repeat(400) })]);
    const relay = createOutboxRelay({ ...ctx, db: ctx.appDb, logger: ctx.logger, settings: { batchSize: 500, pollIntervalMs: 100, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
    try {
      await eventually(
        'the relay refused',
        () => relay.status(),
        (status) => status.consecutiveFailures > 1,
      );
      const full = (await ctx.jsm.streams.info(ctx.topology.eventStream)).state;
      // Some fit; none was dropped to make room for the others.
      expect(full.messages).toBeGreaterThan(0);
      expect(full.messages).toBeLessThan(60);
      expect(full.first_seq).toBe(1);

      await ensureEventStreams(ctx.jsm, ctx.topology, { ...tiny, maxBytes: TEST_STREAM_MAX_BYTES });
      await eventually(
        'every event published',
        async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
        (messages) => messages === 60,
      );
      const stored = (await ctx.store.readAll(START_OF_LOG, 61)).events;
      const published = await readStreamMessages(ctx.js, ctx.topology.eventStream, 60);
      expect(published.map((message) => message.headers?.get(MESSAGE_HEADERS.msgId))).toEqual(stored.map((event) => event.eventId));
    } finally {
      await relay.stop();
    }
  });
});
