import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { MESSAGE_HEADERS } from '@keyledger/contracts';
import { NO_STREAM, START_OF_LOG } from '@keyledger/event-store';
import type { AuthenticatedNats, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, readStreamMessages, startAuthenticatedNats, testEvent } from '@keyledger/testing';
import { createOutboxRelay } from './create-outbox-relay.js';
import type { OutboxRelay } from './outbox-relay.js';

/** What the issue asks: events flow again this soon after NATS is back. */
const RESUME_BOUND_MS = 2000;

describe('the relay across a short NATS restart', () => {
  let ctx: TestContext;
  let nats: AuthenticatedNats;
  let relay: OutboxRelay;

  beforeAll(async () => {
    ctx = await createTestContext('relayrestart', {
      nats: async (topology) => {
        nats = await startAuthenticatedNats(topology);
        return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8') };
      },
    });
    // The default publish timeout (5 s): an outage shorter than it leaves a publish waiting when NATS returns.
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
  });

  afterAll(async () => {
    await relay?.stop();
    await ctx?.close();
    await nats?.stop();
  });

  // Asked with a short timeout: a request sent as NATS comes back may go unanswered as well.
  const streamMessages = async (): Promise<number> => {
    try {
      return (await (await jetstreamManager(ctx.nc, { timeout: 300 })).streams.info(ctx.topology.eventStream)).state.messages;
    } catch {
      return 0; // not answered yet: as if nothing were published
    }
  };

  it('publishes what was committed during the outage within 2 s of NATS coming back, once each and in order', async () => {
    let version = (await ctx.store.append('key-restart', NO_STREAM, [testEvent({ n: 0 })])).nextExpectedVersion;
    await eventually('published before the outage', streamMessages, (count) => count === 1);

    await nats.halt();
    // Committed while NATS is away: the relay's publish of it waits for an answer that does not come.
    version = (await ctx.store.append('key-restart', version, [testEvent({ n: 1 })])).nextExpectedVersion;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await ctx.store.append('key-restart', version, [testEvent({ n: 2 })]);
    await nats.restart();
    const restartedAt = Date.now();

    await eventually('published after the restart', streamMessages, (count) => count >= 3, 30_000);
    const resumedMs = Date.now() - restartedAt;
    console.log(`the relay published again ${resumedMs} ms after a 1.5 s NATS outage`);

    const stored = (await ctx.store.readAll(START_OF_LOG, 10)).events;
    const messages = await readStreamMessages(ctx.js, ctx.topology.eventStream, await streamMessages());
    expect(messages.map((message) => message.headers?.get(MESSAGE_HEADERS.msgId))).toEqual(stored.map((event) => event.eventId));
    expect(resumedMs).toBeLessThan(RESUME_BOUND_MS);
  });
});
