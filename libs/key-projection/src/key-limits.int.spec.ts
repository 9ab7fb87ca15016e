import { streamIdOf } from '@keyledger/contracts';
import { NO_STREAM } from '@keyledger/event-store';
import { newEventId } from '@keyledger/ids';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { KeyIndex } from './key-index.js';
import { CREDITS_ENTRIES_PER_EVENT, KeyLimits } from './key-limits.js';
import { RateLimitSync } from './rate-limit-sync.js';

describe('credits consumption records', () => {
  let ctx: TestContext;
  let sync: RateLimitSync;

  beforeAll(async () => {
    ctx = await createTestContext('keylimits');
  });
  afterAll(async () => {
    sync?.stop();
    await ctx.close();
  });

  it('continues the stream of an earlier process that had the same instance name, recording each credit once', async () => {
    const instanceId = 'verifier-pod-1-0a1b2c3d';
    const streamId = streamIdOf('credits', instanceId);
    const day = Date.UTC(2026, 0, 1);
    const earlier = {
      eventId: newEventId(),
      type: 'CreditsConsumed' as const,
      data: { entries: [['key_0000000000000000000000ear1', day, 4]] },
      metadata: testMetadata(),
    };
    await ctx.store.append(streamId, NO_STREAM, [earlier]);

    sync = new RateLimitSync(
      ctx.nc,
      { instanceId, subjectPrefix: ctx.topology.subjectPrefix, periodMs: 25, recomputeDelayMs: 5, memberTimeoutMs: 1000 },
      ctx.logger,
    );
    sync.start();
    const index = new KeyIndex();
    const now = Date.now();
    index.apply({
      type: 'KeyIssued',
      streamVersion: 1,
      data: {
        keyId: 'key_0000000000000000000000qzta',
        tenant: 'acme',
        owner: 'svc',
        environment: 'live',
        prefix: 'kl',
        digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'cd'.repeat(32) },
        hint: 'kl_live_…abcd',
        scopes: [],
        ipAllowlist: [],
        metadata: {},
        credits: { remaining: 100, refill: { amount: 100, interval: 'daily' }, periodStart: now - (now % 86_400_000) },
      },
    });
    const limits = new KeyLimits(
      { sync, index, store: ctx.store, fence: { liveVerifiers: () => [] }, applied: () => ({ transactionId: '0', position: '0' }), logger: ctx.logger },
      { instanceId, flushEveryMs: 60_000 },
    );
    // A replica admits nothing limited until it knows its members (itself, here).
    await eventually('credits admitted', () => limits.assess(index.get('key_0000000000000000000000qzta')!, Date.now(), 3).allowed, Boolean);
    limits.take();

    await limits.flush();

    const stored = await ctx.store.readStream(streamId);
    expect(stored.map((event) => event.type)).toEqual(['CreditsConsumed', 'CreditsConsumed']);
    expect(stored[1]!.data).toEqual({ entries: [['key_0000000000000000000000qzta', expect.any(Number), 3]] });
    expect(limits.counts()).toMatchObject({ unrecorded: 0, recorded: 3, flushFailures: 0 });
  });

  it("records the credits of more keys than one event may carry in several events, each within the store's size limit", async () => {
    const instanceId = 'verifier-pod-many-keys';
    const manySync = new RateLimitSync(
      ctx.nc,
      { instanceId, subjectPrefix: ctx.topology.subjectPrefix, periodMs: 25, recomputeDelayMs: 5, memberTimeoutMs: 1000 },
      ctx.logger,
    );
    manySync.start();
    try {
      const index = new KeyIndex();
      const now = Date.now();
      // 6,000 entries of about 51 bytes: over MAX_EVENT_BYTES as one event, as the schema's 10,000 an event would have had it.
      const keyIds = Array.from({ length: CREDITS_ENTRIES_PER_EVENT + 2000 }, (_, i) => `key_${String(i).padStart(26, '0')}`);
      const credits = { remaining: 1_000_000_000, refill: { amount: 1_000_000_000, interval: 'daily' }, periodStart: now - (now % 86_400_000) };
      keyIds.forEach((keyId) => index.apply({ type: 'KeyIssued', streamVersion: 1, data: testKeyIssuedData(keyId, 'acme', { credits }) }));
      const limits = new KeyLimits(
        {
          sync: manySync,
          index,
          store: ctx.store,
          fence: { liveVerifiers: () => [] },
          applied: () => ({ transactionId: '0', position: '0' }),
          logger: ctx.logger,
        },
        { instanceId, flushEveryMs: 60_000 },
      );
      await eventually('credits admitted', () => limits.assess(index.get(keyIds[0]!)!, Date.now(), 1000).allowed, Boolean);
      limits.take();
      for (const keyId of keyIds.slice(1)) {
        expect(limits.assess(index.get(keyId)!, Date.now(), 1000).allowed).toBe(true);
        limits.take();
      }

      await limits.flush();

      const stored = await ctx.store.readStream(streamIdOf('credits', instanceId));
      expect(stored.map((event) => (event.data as { entries: unknown[] }).entries.length)).toEqual([CREDITS_ENTRIES_PER_EVENT, 2000]);
      expect(limits.counts()).toMatchObject({ unrecorded: 0, recorded: 1000 * keyIds.length, flushFailures: 0 });
    } finally {
      manySync.stop();
    }
  });
});
