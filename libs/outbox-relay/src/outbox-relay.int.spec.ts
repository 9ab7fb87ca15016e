import type { JsMsg } from '@nats-io/jetstream';
import { MESSAGE_HEADERS } from '@keyledger/contracts';
import type { EventEnvelope } from '@keyledger/contracts';
import { deleteEventStreams, ensureEventStreams } from '@keyledger/event-bus';
import { NO_STREAM, START_OF_LOG, compareGlobalPositions } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';
import { TEST_STREAM_MAX_BYTES, createTestContext, eventually, readStreamMessages, serviceOutput, spawnService, testEvent, testMetadata, waitForExit } from '@keyledger/testing';
import { createOutboxRelay } from './create-outbox-relay.js';
import type { OutboxRelay, OutboxRelaySettings } from './outbox-relay.js';

/**
 * A relay's own looks at the store that the tests below must not see: a day apart. The head
 * check ticks at a second of the day of the process's own (libs/timers), so a
 * test of a few seconds meets one about once in 20,000 runs (ten minutes apart: once in a few hundred).
 */
const NO_LOOK_OF_ITS_OWN_MS = 86_400_000;

function startRelay(ctx: TestContext, label = 'relay', settings: Partial<OutboxRelaySettings> = {}): OutboxRelay {
  const relay = createOutboxRelay({
    ...ctx,
    db: ctx.appDb,
    logger: ctx.logger.child({ relay: label }),
    settings: { batchSize: 500, pollIntervalMs: 100, headCheckMs: 200, standbyRetryMs: 100, retryDelayMs: 100, ...settings },
  });
  relay.start();
  return relay;
}

/** 8 writers, each owning its own streams, appending singles and batches concurrently. */
async function writeConcurrently(ctx: TestContext, total: number, writers = 8): Promise<void> {
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const versions = new Map<string, number>();
      let written = 0;
      let round = 0;
      const quota = total / writers;
      while (written < quota) {
        const streamId = `key-w${writer}s${round % 40}`;
        const size = Math.min(1 + (round % 4), quota - written);
        const version = versions.get(streamId) ?? NO_STREAM;
        const events = Array.from({ length: size }, (_, i) => testEvent({ writer, n: written + i }));
        const result = await ctx.store.append(streamId, version, events);
        versions.set(streamId, result.nextExpectedVersion);
        written += size;
        round += 1;
      }
    }),
  );
}

function positionOf(message: JsMsg): { transactionId: string; position: string } {
  return { transactionId: message.headers!.get(MESSAGE_HEADERS.transactionId), position: message.headers!.get(MESSAGE_HEADERS.position) };
}

async function expectStreamMirrorsStore(ctx: TestContext, expected: number): Promise<void> {
  const stored = await ctx.store.readAll(START_OF_LOG, expected + 1).then((page) => page.events);
  expect(stored).toHaveLength(expected);
  const info = await ctx.jsm.streams.info(ctx.topology.eventStream);
  expect(info.state.messages).toBe(expected);
  const messages = await readStreamMessages(ctx.js, ctx.topology.eventStream, expected);
  expect(messages.map((m) => m.headers?.get(MESSAGE_HEADERS.msgId))).toEqual(stored.map((e) => e.eventId));
  for (let i = 1; i < messages.length; i += 1) expect(compareGlobalPositions(positionOf(messages[i - 1]!), positionOf(messages[i]!))).toBe(-1);
}

async function streamMessages(ctx: TestContext): Promise<number> {
  return (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages;
}

/** Runs `append` with the store's commit notification switched off, as if the listening session had lost it. */
async function withoutNotifications(ctx: TestContext, append: () => Promise<unknown>): Promise<void> {
  await ctx.ownerDb.query(`alter table events disable trigger events_appended`);
  try {
    await append();
  } finally {
    await ctx.ownerDb.query(`alter table events enable trigger events_appended`);
  }
}

describe('OutboxRelay', () => {
  let ctx: TestContext;
  const relays: OutboxRelay[] = [];
  beforeEach(async () => {
    ctx = await createTestContext('relay');
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
    await ctx.close();
  });

  it('publishes each event with its id as Nats-Msg-Id, its envelope as body and its trace context as headers', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await ctx.store.append('key-t1', NO_STREAM, [testEvent({ n: 1 }, { metadata: testMetadata({ traceparent }) })]);
    relays.push(startRelay(ctx));
    const [message] = await readStreamMessages(ctx.js, ctx.topology.eventStream, 1);
    const [stored] = await ctx.store.readStream('key-t1');
    expect(message?.subject).toBe(`${ctx.topology.subjectPrefix}.events.key.KeyUpdated`);
    expect(message?.headers?.get(MESSAGE_HEADERS.msgId)).toBe(stored?.eventId);
    expect(message?.headers?.get('traceparent')).toBe(traceparent);
    const { auth, ...envelope } = message!.json<EventEnvelope & { auth: { v: number; mac: string } }>();
    expect(envelope).toEqual(stored);
    expect(auth).toEqual(ctx.auth.authenticator.sealPublished(stored!));
  });

  it('delivers 10,000 events from 8 concurrent writers exactly once, in (transaction_id, position) order', async () => {
    relays.push(startRelay(ctx));
    await writeConcurrently(ctx, 10_000);
    await eventually(
      'relay to publish 10,000 events',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n >= 10_000,
      60_000,
    );
    await expectStreamMirrorsStore(ctx, 10_000);
  });

  it('wakes on a commit notification rather than waiting for its poll interval', async () => {
    // Intervals longer than the wait below: only the NOTIFY can get the event out in time.
    relays.push(startRelay(ctx, 'notified', { pollIntervalMs: NO_LOOK_OF_ITS_OWN_MS, headCheckMs: NO_LOOK_OF_ITS_OWN_MS }));
    await eventually('relay to lead', () => relays[0]!.status().leader, Boolean);
    // Let the relay finish its first (empty) read and go idle before the commit.
    await eventually('relay resumed', () => relays[0]!.status().checkpoint !== undefined, Boolean);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await ctx.store.append('key-n1', NO_STREAM, [testEvent()]);
    await eventually(
      'event on the stream',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 1,
      30_000,
    );
  });

  it('publishes an event whose notification was missed at its next look at the store head', async () => {
    // Only the head check (every 200 ms here) can find it: no notification, no poll.
    relays.push(startRelay(ctx, 'unnotified', { pollIntervalMs: NO_LOOK_OF_ITS_OWN_MS }));
    await eventually('relay resumed', () => relays[0]!.status().checkpoint !== undefined, Boolean);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await withoutNotifications(ctx, () => ctx.store.append('key-m1', NO_STREAM, [testEvent()]));
    await eventually('event on the stream', () => streamMessages(ctx), (n) => n === 1, 30_000);
  });

  it('reads at once when told of a store head it has not reached, without a look of its own', async () => {
    const relay = startRelay(ctx, 'told', { pollIntervalMs: NO_LOOK_OF_ITS_OWN_MS, headCheckMs: NO_LOOK_OF_ITS_OWN_MS });
    relays.push(relay);
    await eventually('relay resumed', () => relay.status().checkpoint !== undefined, Boolean);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await withoutNotifications(ctx, () => ctx.store.append('key-m2', NO_STREAM, [testEvent()]));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await streamMessages(ctx)).toBe(0);
    relay.noteStoreHead((await ctx.store.headPosition())!);
    await eventually('event on the stream', () => streamMessages(ctx), (n) => n === 1, 30_000);
  });

  it('reads again an event held back by an older transaction still running, which notifies nothing when it ends', async () => {
    relays.push(startRelay(ctx, 'held', { pollIntervalMs: 100, headCheckMs: NO_LOOK_OF_ITS_OWN_MS }));
    await eventually('relay resumed', () => relays[0]!.status().checkpoint !== undefined, Boolean);
    const older = ctx.ownerDb.createQueryRunner();
    await older.connect();
    try {
      await older.startTransaction();
      // An xid older than the append's: the append is past the readers' horizon until it ends.
      await older.query(`select pg_current_xact_id()`);
      await ctx.store.append('key-h1', NO_STREAM, [testEvent()]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await streamMessages(ctx)).toBe(0);
      await older.commitTransaction();
    } finally {
      await older.release();
    }
    await eventually('event on the stream', () => streamMessages(ctx), (n) => n === 1, 30_000);
  });

  it('resumes after the newest message it sealed, not after a forged one with a far position at the stream tail', async () => {
    const first = startRelay(ctx, 'first');
    relays.push(first);
    await ctx.store.append('key-f1', NO_STREAM, [testEvent({ n: 1 })]);
    const [genuine] = await readStreamMessages(ctx.js, ctx.topology.eventStream, 1);
    const genuineId = genuine!.headers!.get(MESSAGE_HEADERS.msgId);
    await first.stop();
    relays.splice(relays.indexOf(first), 1);
    // Copied from the genuine message, moved far ahead in headers and body; its seal cannot follow.
    const forged = { ...genuine!.json<Record<string, unknown>>(), position: '99999999999', transactionId: '99999999999' };
    const headers = genuine!.headers!;
    headers.set(MESSAGE_HEADERS.position, '99999999999');
    headers.set(MESSAGE_HEADERS.transactionId, '99999999999');
    headers.set(MESSAGE_HEADERS.msgId, 'forged-tail');
    // The relay's fence travels with the genuine message; a forger publishes without it.
    headers.delete('Nats-Expected-Last-Sequence');
    await ctx.js.publish(genuine!.subject, JSON.stringify(forged), { headers });
    await ctx.store.append('key-f1', 1, [testEvent({ n: 2 })]);
    relays.push(startRelay(ctx, 'second'));
    await eventually(
      'the event appended after the forgery published',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 3,
    );
    const ids = (await readStreamMessages(ctx.js, ctx.topology.eventStream, 3)).map((message) => message.headers?.get(MESSAGE_HEADERS.msgId));
    expect(ids).toEqual([genuineId, 'forged-tail', (await ctx.store.readStream('key-f1'))[1]!.eventId]);
    expect(ctx.auth.rejections.all).toEqual([expect.objectContaining({ source: 'bus', reason: 'bad-mac', position: '99999999999' })]);
  });

  it('lets one relay lead and hands over to the standby when the leader stops', async () => {
    const first = startRelay(ctx, 'first');
    relays.push(first);
    await eventually('first relay to lead', () => first.status().leader, Boolean);
    const second = startRelay(ctx, 'second');
    relays.push(second);
    await ctx.store.append('key-h1', NO_STREAM, [testEvent({ n: 1 })]);
    await eventually(
      'first event published',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 1,
    );
    expect(second.status().leader).toBe(false);
    await first.stop();
    relays.splice(relays.indexOf(first), 1);
    await ctx.store.append('key-h1', 1, [testEvent({ n: 2 })]);
    await eventually(
      'standby to take over and publish',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 2,
    );
    expect(second.status().leader).toBe(true);
    await expectStreamMirrorsStore(ctx, 2);
  });

  it('loses nothing and duplicates nothing when the relay process is killed with SIGKILL mid-run', async () => {
    const first = spawnService(ctx, 'relay', { RELAY_BATCH_SIZE: '50' });
    const writing = writeConcurrently(ctx, 4000);
    await eventually(
      'the first relay to publish part of the load',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n >= 500,
      60_000,
    );
    first.kill('SIGKILL');
    await waitForExit(first);
    const publishedAtKill = (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages;
    const second = spawnService(ctx, 'relay', { RELAY_BATCH_SIZE: '50' });
    try {
      await writing;
      await eventually(
        'the restarted relay to catch up',
        async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
        (n) => n >= 4000,
        60_000,
      );
      expect(publishedAtKill).toBeLessThan(4000);
      await expectStreamMirrorsStore(ctx, 4000);
    } finally {
      second.kill('SIGTERM');
      await waitForExit(second);
    }
  });

  it('replaces a leader that stops renewing its lease (SIGSTOP), and the leader woken later publishes nothing twice or out of order', async () => {
    const env = { RELAY_BATCH_SIZE: '50', RELAY_LEASE_TTL_MS: '2000', RELAY_LEASE_RENEW_MS: '500', RELAY_STANDBY_RETRY_MS: '200' };
    const holderPid = async (): Promise<number | undefined> => {
      const [row] = await ctx.ownerDb.query<{ holder: string }[]>(`select holder from relay_leases where expires_at > clock_timestamp()`);
      return row ? Number(row.holder.split('/')[1]) : undefined;
    };
    const published = async (): Promise<number> => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages;
    const first = spawnService(ctx, 'relay', env);
    const second = spawnService(ctx, 'relay', env);
    try {
      const leaderPid = await eventually('a relay to lead', holderPid, (pid) => pid === first.pid || pid === second.pid, 30_000);
      const [leader, standby] = leaderPid === first.pid ? [first, second] : [second, first];
      const writing = writeConcurrently(ctx, 2000);
      await eventually('the leader to publish part of the load', published, (n) => n >= 200, 60_000);
      leader.kill('SIGSTOP');
      const stoppedAt = Date.now();
      const atStop = await published();
      // Its session stays open, so only the lease running out can hand leadership over.
      await eventually('the standby to take the lease and publish', async () => ((await holderPid()) === standby.pid ? await published() : 0), (n) => n > atStop, 20_000);
      const takeoverMs = Date.now() - stoppedAt;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      leader.kill('SIGCONT');
      await writing;
      await eventually('every event published', published, (n) => n >= 2000, 60_000);
      await eventually('the woken relay to learn it lost the lease', () => serviceOutput(leader), (out) => out.includes('relay lease lost to another relay'), 10_000);
      await expectStreamMirrorsStore(ctx, 2000);
      process.stdout.write(`stalled relay leader replaced after ${takeoverMs} ms (lease 2000 ms, renewal every 500 ms, standby retry 200 ms)\n`);
    } finally {
      for (const relay of [first, second]) {
        relay.kill('SIGCONT');
        relay.kill('SIGTERM');
        await waitForExit(relay);
      }
    }
  });

  it('resumes after its checkpoint fell behind the stream without publishing anything twice', async () => {
    await ctx.store.append('key-r1', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 }), testEvent({ n: 3 })]);
    const relay = startRelay(ctx);
    relays.push(relay);
    await eventually(
      '3 events published',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 3,
    );
    await relay.stop();
    relays.pop();
    // As if the relay died between the publish acks and the checkpoint save.
    await ctx.ownerDb.query(`update relay_checkpoints set transaction_id = '0', position = 0`);
    await ctx.store.append('key-r1', 3, [testEvent({ n: 4 })]);
    relays.push(startRelay(ctx));
    await eventually(
      '4 events published',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n >= 4,
    );
    await expectStreamMirrorsStore(ctx, 4);
  });

  it('publishes again, in order, the events a recreated stream lost', async () => {
    await ctx.store.append('key-l1', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
    const relay = startRelay(ctx);
    relays.push(relay);
    await eventually(
      '2 events published',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 2,
    );
    await relay.stop();
    relays.pop();
    await deleteEventStreams(ctx.jsm, ctx.topology);
    await ensureEventStreams(ctx.jsm, ctx.topology, { duplicateWindowMs: 120_000, replicas: 1, maxAgeMs: 0, maxBytes: TEST_STREAM_MAX_BYTES });
    await ctx.store.append('key-l1', 2, [testEvent({ n: 3 })]);
    relays.push(startRelay(ctx));
    await eventually(
      'all 3 events published again',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n >= 3,
    );
    await expectStreamMirrorsStore(ctx, 3);
  });

  it('skips a foreign message at the stream tail when finding where to resume', async () => {
    await ctx.store.append('key-f1', NO_STREAM, [testEvent({ n: 1 })]);
    const relay = startRelay(ctx);
    relays.push(relay);
    await eventually(
      '1 event published',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 1,
    );
    await relay.stop();
    relays.pop();
    await ctx.js.publish(`${ctx.topology.subjectPrefix}.events.key.KeyIssued`, 'not from a relay');
    await ctx.store.append('key-f1', 1, [testEvent({ n: 2 })]);
    relays.push(startRelay(ctx));
    await eventually(
      'the second event published',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === 3,
    );
    const messages = await readStreamMessages(ctx.js, ctx.topology.eventStream, 3);
    expect(messages.map((m) => m.headers?.get(MESSAGE_HEADERS.streamVersion) ?? 'foreign')).toEqual(['1', 'foreign', '2']);
  });
});
