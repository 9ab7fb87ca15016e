import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from '@keyledger/contracts';
import { encodeEventMessage, encodeRelayHeartbeat } from '@keyledger/event-bus';
import { relayHeartbeatSubject } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { KeyIndex } from './key-index.js';
import { LiveKeyProjection } from './live-key-projection.js';

const SETTINGS = { maxBusSilenceMs: 30_000, failClosed: true, heartbeatMs: 60_000, catchUpBatchSize: 100, announce: false };

/** A sealed KeyIssued as the relay would publish it, at a position of the test's choosing. */
function keyIssued(keyId: string, digest: string, position: string): EventEnvelope {
  return {
    eventId: randomUUID(),
    transactionId: '999999999',
    position,
    type: 'KeyIssued',
    schemaVersion: 1,
    streamId: `key-${keyId}`,
    streamVersion: 1,
    occurredAt: new Date().toISOString(),
    data: {
      keyId,
      tenant: 'acme',
      owner: 'svc',
      environment: 'live',
      prefix: 'kl',
      digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest },
      hint: 'kl_live_…abcd',
      scopes: [],
      ipAllowlist: [],
      metadata: {},
    },
    metadata: { actor: 'test', correlationId: 'c', causationId: 'c' },
    hash: '00'.repeat(32),
  };
}

/** An index that cannot apply one key's events, as a bug in a fold would. */
class FailingIndex extends KeyIndex {
  constructor(private readonly failing: string) {
    super();
  }

  override apply(event: Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'>): boolean {
    if ((event.data as { keyId?: string }).keyId === this.failing) throw new Error('simulated: the fold cannot apply this event');
    return super.apply(event);
  }
}

describe('LiveKeyProjection', () => {
  let ctx: TestContext;
  let projection: LiveKeyProjection | undefined;

  beforeAll(async () => {
    ctx = await createTestContext('liveprojection');
  });
  afterEach(async () => {
    await projection?.stop();
    projection = undefined;
  });
  afterAll(async () => {
    await ctx.close();
  });

  const publish = async (event: EventEnvelope): Promise<void> => {
    const message = encodeEventMessage(ctx.topology.subjectPrefix, event, ctx.auth.authenticator);
    await ctx.js.publish(message.subject, message.payload, { headers: message.headers, msgID: message.msgId });
  };

  it('stops at an authentic event it cannot apply and fails closed, rather than skip it', async () => {
    const failing = 'key_0000000000000000000000fa11';
    projection = new LiveKeyProjection({ ...ctx, index: new FailingIndex(failing) }, { instanceId: 'stall-test', ...SETTINGS });
    await projection.start();
    expect(projection.isFailingClosed()).toBe(false);
    await publish(keyIssued(failing, 'ab'.repeat(32), '1'));
    await eventually('the projection stalls', () => projection!.status().stalledAt, Boolean);
    expect(projection.status()).toMatchObject({ stalledAt: { transactionId: '999999999', position: '1' }, failingClosed: true });
  });

  it('skips and reports a sealed event whose data does not fit its schema, without stalling', async () => {
    const index = new KeyIndex();
    projection = new LiveKeyProjection({ ...ctx, index }, { instanceId: 'schema-test', ...SETTINGS });
    await projection.start();
    // A digest of 2 bytes: sealed with the right key, so only the schema can refuse it.
    await publish(keyIssued('key_00000000000000000000000bad', 'abcd', '2'));
    const fine = keyIssued('key_0000000000000000000000f1e0', 'cd'.repeat(32), '3');
    await publish(fine);
    await eventually('the next event applied', () => index.get('key_0000000000000000000000f1e0'), Boolean);
    expect(index.get('key_00000000000000000000000bad')).toBeUndefined();
    expect(projection.status()).toMatchObject({ stalledAt: undefined, failingClosed: false, position: { transactionId: '999999999', position: '3' } });
    expect(ctx.auth.rejections.all).toEqual([expect.objectContaining({ source: 'bus', reason: 'bad-schema', streamId: 'key-key_00000000000000000000000bad' })]);
  });

  it('waits to have applied what the store committed before it was asked, and only that long', async () => {
    const index = new KeyIndex();
    projection = new LiveKeyProjection({ ...ctx, index }, { instanceId: 'catch-up-test', ...SETTINGS });
    await projection.start();
    expect(await projection.caughtUpWithStore(1000)).toBe(true);

    const before = projection.appliedPosition();
    const keyId = 'key_00000000000000000000c47c40';
    const issued = keyIssued(keyId, 'ef'.repeat(32), '0');
    await ctx.store.append(issued.streamId, 0, [
      { type: 'KeyIssued', schemaVersion: 1, data: issued.data as Record<string, unknown>, metadata: issued.metadata },
    ]);
    // Committed, but nothing published it: this replica cannot know it, and says so in time.
    const started = Date.now();
    expect(await projection.caughtUpWithStore(300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(index.get(keyId)).toBeUndefined();

    const waiting = projection.caughtUpWithStore(10_000);
    const [stored] = (await ctx.store.readAll(before, 10)).events;
    await publish(stored!);
    expect(await waiting).toBe(true);
    expect(index.get(keyId)).toBeDefined();
  });

  /** Key events committed to the store that no relay publishes. */
  const appendUnpublished = async (keyIds: string[]): Promise<void> => {
    for (const [n, keyId] of keyIds.entries()) {
      const issued = keyIssued(keyId, String(n + 1).repeat(64), '0');
      await ctx.store.append(issued.streamId, 0, [
        { type: 'KeyIssued', schemaVersion: 1, data: issued.data as Record<string, unknown>, metadata: issued.metadata },
      ]);
    }
  };

  it('counts the store events it has not applied, unless a fresh relay heartbeat already shows it has the head', async () => {
    const index = new KeyIndex();
    const probing = { ...SETTINGS, heartbeatMs: 50, lagProbeMs: 100 };
    projection = new LiveKeyProjection({ ...ctx, index }, { instanceId: 'lag-test', ...probing });
    await projection.start();
    await eventually(
      'a first measurement',
      () => projection!.status().behindStore,
      (behind) => behind === 0,
    );
    await appendUnpublished(['key_0000000000000000000000a001', 'key_0000000000000000000000a002']);
    // Committed and never published: only the count in Postgres can tell.
    await eventually(
      'the unpublished events counted',
      () => projection!.status().behindStore,
      (behind) => behind === 2,
    );
    await projection.stop();

    // Judged by the relay's heartbeats: one naming a head this replica holds, a moment ago, says
    // it is behind nothing as of then, and Postgres is not asked (the two events are still there).
    projection = new LiveKeyProjection({ ...ctx, index: new KeyIndex() }, { instanceId: 'lag-test-2', ...probing, maxStalenessMs: 5000 });
    await projection.start();
    const applied = projection.appliedPosition();
    await appendUnpublished(['key_0000000000000000000000a003', 'key_0000000000000000000000a004']);
    const beat = setInterval(
      () => ctx.nc.publish(relayHeartbeatSubject(ctx.topology.subjectPrefix), encodeRelayHeartbeat(ctx.auth.authenticator, applied, new Date())),
      20,
    );
    try {
      await eventually(
        'fresh by the heartbeats',
        () => projection!.status().stalenessMs,
        (staleness) => typeof staleness === 'number' && staleness < 100,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(projection.status().behindStore).toBe(0);
      expect(await projection.measureLag()).toBe(2);
    } finally {
      clearInterval(beat);
    }
  });
});
