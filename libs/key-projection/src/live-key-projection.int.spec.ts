import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from '@keyledger/contracts';
import { encodeEventMessage } from '@keyledger/event-bus';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { KeyIndex } from './key-index.js';
import { LiveKeyProjection } from './live-key-projection.js';

describe('LiveKeyProjection', () => {
  let ctx: TestContext;
  let projection: LiveKeyProjection | undefined;

  beforeAll(async () => {
    ctx = await createTestContext('liveprojection');
  });
  afterAll(async () => {
    await projection?.stop();
    await ctx.close();
  });

  it('stops at an event it cannot apply and fails closed, rather than skip it', async () => {
    projection = new LiveKeyProjection(
      { ...ctx, index: new KeyIndex() },
      { instanceId: 'stall-test', maxBusSilenceMs: 30_000, failClosed: true, heartbeatMs: 60_000, catchUpBatchSize: 100, announce: false },
    );
    await projection.start();
    expect(projection.isFailingClosed()).toBe(false);
    // A KeyIssued whose digest is not 32 bytes: the index refuses it.
    const broken: EventEnvelope = {
      eventId: randomUUID(),
      transactionId: '999999999',
      position: '1',
      type: 'KeyIssued',
      schemaVersion: 1,
      streamId: 'key-key_broken',
      streamVersion: 1,
      occurredAt: new Date().toISOString(),
      data: {
        keyId: 'key_broken',
        tenant: 'acme',
        owner: 'svc',
        environment: 'live',
        prefix: 'kl',
        digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'abcd' },
        hint: 'kl_live_…abcd',
        scopes: [],
        ipAllowlist: [],
        metadata: {},
      },
      metadata: { actor: 'test', correlationId: 'c', causationId: 'c' },
      hash: '00'.repeat(32),
    };
    const message = encodeEventMessage(ctx.topology.subjectPrefix, broken);
    await ctx.js.publish(message.subject, message.payload, { headers: message.headers, msgID: message.msgId });
    await eventually('the projection stalls', () => projection!.status().stalledAt, Boolean);
    expect(projection.status()).toMatchObject({ stalledAt: { transactionId: '999999999', position: '1' }, failingClosed: true });
  });
});
