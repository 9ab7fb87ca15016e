import { readFileSync } from 'node:fs';
import type { EventEnvelope, GlobalPosition } from '@keyledger/contracts';
import type { Projection } from '@keyledger/consumer-runtime';
import { DurableEventConsumer } from '@keyledger/consumer-runtime';
import { compareGlobalPositions } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { AuthenticatedNats, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, startAuthenticatedNats, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { KeyIndex } from './key-index.js';
import { LiveKeyProjection } from './live-key-projection.js';

const OUTAGE_MS = 10_000;
/** What the issue asks of every consumer: events flow again this soon after NATS is back. */
const RESUME_BOUND_MS = 2000;

/** Remembers what a durable consumer delivered, in memory (the inbox row is still written by the runtime). */
class SeenProjection implements Projection {
  readonly name = 'restart-probe';
  readonly category = 'key';
  readonly seen = new Set<string>();

  apply(event: EventEnvelope): Promise<void> {
    this.seen.add(event.streamId);
    return Promise.resolve();
  }

  reset(): Promise<void> {
    this.seen.clear();
    return Promise.resolve();
  }
}

describe('consumers across a NATS restart', () => {
  let ctx: TestContext;
  let nats: AuthenticatedNats;
  let relay: OutboxRelay;
  let projection: LiveKeyProjection;
  let durable: DurableEventConsumer;
  const index = new KeyIndex();
  const seen = new SeenProjection();

  beforeAll(async () => {
    ctx = await createTestContext('natsrestart', {
      nats: async (topology) => {
        nats = await startAuthenticatedNats(topology);
        return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8') };
      },
    });
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100, publishTimeoutMs: 1000 } });
    relay.start();
    projection = new LiveKeyProjection(
      { ...ctx, index },
      { instanceId: 'restart-test', maxBusSilenceMs: 60_000, failClosed: true, heartbeatMs: 1000, catchUpBatchSize: 100, announce: false },
    );
    await projection.start();
    durable = new DurableEventConsumer({ ...ctx, dataSource: ctx.appDb, projection: seen });
    await durable.start();
  });

  afterAll(async () => {
    await durable?.stop();
    await projection?.stop();
    await relay?.stop();
    await ctx?.close();
    await nats?.stop();
  });

  const issue = async (): Promise<{ keyId: string; position: GlobalPosition }> => {
    const keyId = newPrefixedId('key');
    const { events } = await ctx.store.append(`key-${keyId}`, 0, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId), metadata: testMetadata() }]);
    return { keyId, position: events[0]! };
  };

  /** Stops NATS for `outageMs`, starts it again, and measures how soon events flow to both consumers. */
  const outage = async (outageMs: number, restart: () => Promise<void>): Promise<{ projectionMs: number; durableMs: number }> => {
    const before = await issue();
    await eventually('applied before the outage', () => index.get(before.keyId) !== undefined && seen.seen.has(`key-${before.keyId}`), Boolean);
    await nats.halt();
    const during = await issue();
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    await restart();
    const restartedAt = Date.now();
    const after = await issue();
    const projected = await eventually(
      'the key projection applies what was committed during and after the outage',
      () => Date.now(),
      () => compareGlobalPositions(projection.appliedPosition(), after.position) >= 0,
      60_000,
    );
    const consumed = await eventually(
      'the durable consumer handles what was committed during and after the outage',
      () => Date.now(),
      () => seen.seen.has(`key-${during.keyId}`) && seen.seen.has(`key-${after.keyId}`),
      60_000,
    );
    expect(index.get(during.keyId)).toBeDefined();
    return { projectionMs: projected - restartedAt, durableMs: consumed - restartedAt };
  };

  it('resumes the key projection and durable consumers within 2 s of NATS coming back', async () => {
    const figures = await outage(OUTAGE_MS, () => nats.restart());
    console.log(`after a ${OUTAGE_MS / 1000} s NATS outage, consumers resumed in ${JSON.stringify(figures)}`);
    expect(figures.projectionMs).toBeLessThan(RESUME_BOUND_MS);
    expect(figures.durableMs).toBeLessThan(RESUME_BOUND_MS);
  });

  it('resumes them within 2 s of JetStream coming back when NATS came back without it', async () => {
    // The clients reconnect to a server whose JetStream does not answer yet: the client library's
    // own recovery then waits 15-45 s before it asks again (the field report's 36-45 s).
    const jetStreamLateMs = 1500;
    const figures = await outage(2000, () => nats.restart({ jetStreamLateMs }));
    console.log(`after NATS came back without JetStream for 1.5 s, consumers resumed in ${JSON.stringify(figures)} (from NATS coming back)`);
    // Measured from NATS coming back; JetStream answers 1.5 s later, and the bound runs from then.
    expect(figures.projectionMs).toBeLessThan(jetStreamLateMs + RESUME_BOUND_MS);
    expect(figures.durableMs).toBeLessThan(jetStreamLateMs + RESUME_BOUND_MS);
  });
});
