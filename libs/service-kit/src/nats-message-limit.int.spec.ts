import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadKeyServiceConfig } from '@keyledger/config';
import type { KeyUsed } from '@keyledger/contracts';
import { expandUsageBatch, usageBatchV3Schema } from '@keyledger/contracts';
import { MIN_NATS_MAX_PAYLOAD, NatsMessageLimitTooSmall, messageBudget } from '@keyledger/event-bus';
import { newPrefixedId } from '@keyledger/ids';
import { parsePeppers } from '@keyledger/key-secrets';
import { createLogger, createMetricsRegistry } from '@keyledger/observability';
import type { AuthenticatedNats, TestContext } from '@keyledger/testing';
import { createTestContext, readStreamMessages, startAuthenticatedNats } from '@keyledger/testing';
import { DEFAULT_USAGE_BUFFER_SETTINGS, UsageGroups, usageRecording } from '@keyledger/usage-recorder';
import { openInfrastructure } from './infrastructure.js';

/** A test context on a NATS server of its own whose max_payload is `maxPayload`. */
async function contextOnServer(label: string, maxPayload: number): Promise<{ ctx: TestContext; nats: AuthenticatedNats }> {
  let nats: AuthenticatedNats | undefined;
  const ctx = await createTestContext(label, {
    nats: async (topology) => {
      nats = await startAuthenticatedNats(topology, { maxPayload });
      return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8') };
    },
  });
  return { ctx, nats: nats! };
}

const reporting = () => ({
  instance: 'verifier-limit-test',
  logger: createLogger({ service: 'test', level: 'silent' }),
  metrics: createMetricsRegistry('verifier'),
});
const verifierConfig = (ctx: TestContext, nats: AuthenticatedNats) => loadKeyServiceConfig({ ...ctx.serviceEnv, NATS_CREDS: nats.credsFile('verifier') });

/**
 * A NATS server whose max_payload is below NATS's default: a service refuses one that would
 * refuse an event at start, saying so, and on one it runs on, what it splits (usage batches)
 * is split under the server's limit, so nothing is refused by the server and nothing dropped.
 */
describe('NATS max_payload', () => {
  describe('below what an event needs', () => {
    let ctx: TestContext;
    let nats: AuthenticatedNats;
    const maxPayload = 128 * 1024;

    beforeAll(async () => {
      ({ ctx, nats } = await contextOnServer('smallpayload', maxPayload));
    });
    afterAll(async () => {
      await ctx?.close();
      await nats?.stop();
    });

    it('stops a service at start with a message naming the limit and what is needed', async () => {
      const opened = openInfrastructure('verifier', verifierConfig(ctx, nats), reporting());
      await expect(opened).rejects.toBeInstanceOf(NatsMessageLimitTooSmall);
      await expect(opened).rejects.toThrow(`accepts messages of at most ${maxPayload} bytes (max_payload); Keyledger needs at least ${MIN_NATS_MAX_PAYLOAD}`);
    });
  });

  describe('at the smallest Keyledger runs on', () => {
    let ctx: TestContext;
    let nats: AuthenticatedNats;

    beforeAll(async () => {
      ({ ctx, nats } = await contextOnServer('minpayload', MIN_NATS_MAX_PAYLOAD));
    });
    afterAll(async () => {
      await ctx?.close();
      await nats?.stop();
    });

    it('stores every usage record of a batch larger than the server takes, in messages under its limit', async () => {
      const infrastructure = await openInfrastructure('verifier', verifierConfig(ctx, nats), reporting());
      try {
        // Records unlike each other (a key, an address and long scopes each), so a batch of the
        // default size encodes to more than this server's max_payload.
        const records: KeyUsed[] = Array.from({ length: DEFAULT_USAGE_BUFFER_SETTINGS.batchRecords }, (_, i) => ({
          keyId: newPrefixedId('key'),
          tenant: 'acme',
          at: Date.now() + i,
          ip: `10.${(i >> 8) & 255}.${i & 255}.1`,
          scopes: ['orders', 'users', 'billing'].map((area) => `${area}:${randomBytes(64).toString('hex')}`),
          code: 'VALID',
          cost: 1,
          transport: 'http',
        }));
        const unsplit = new UsageGroups();
        records.forEach((record) => unsplit.add(record));
        unsplit.seal();
        const atDefault = unsplit.encode(
          { instance: 'probe', createdAt: Date.now(), newBatchId: () => newPrefixedId('ub') },
          DEFAULT_USAGE_BUFFER_SETTINGS.maxBatchBytes,
        );
        // The case under test: at the default size, some message would be over the server's limit.
        expect(Math.max(...atDefault.map((message) => Buffer.byteLength(message.payload)))).toBeGreaterThan(MIN_NATS_MAX_PAYLOAD);

        const recording = usageRecording({
          js: infrastructure.js,
          topology: infrastructure.topology,
          authenticator: infrastructure.auth.authenticator,
          peppers: parsePeppers(ctx.serviceEnv['KEYLEDGER_HASH_PEPPERS']!),
          instance: 'verifier-limit-test',
          metrics: createMetricsRegistry('verifier'),
          logger: createLogger({ service: 'test', level: 'silent' }),
          settings: { flushIntervalMs: 60_000, retryDelayMs: 20 },
          maxMessageBytes: () => messageBudget(infrastructure.nc, DEFAULT_USAGE_BUFFER_SETTINGS.maxBatchBytes),
        });
        recording.start();
        records.forEach((record) => recording.buffer.add(record));
        await recording.close(10_000);
        const counts = recording.buffer.counts();
        expect({ published: counts.published, dropped: counts.dropped, publishFailures: counts.publishFailures }).toEqual({
          published: records.length,
          dropped: 0,
          publishFailures: 0,
        });

        const messages = await readStreamMessages(ctx.js, ctx.topology.usageStream, counts.batches);
        expect(messages).toHaveLength(counts.batches);
        expect(messages.length).toBeGreaterThan(1);
        for (const message of messages) expect(message.data.length).toBeLessThanOrEqual(messageBudget(infrastructure.nc, Number.POSITIVE_INFINITY));
        const stored = messages.flatMap((message) => expandUsageBatch(usageBatchV3Schema.parse(message.json())));
        expect(new Set(stored.map((record) => record.keyId))).toEqual(new Set(records.map((record) => record.keyId)));
      } finally {
        await infrastructure.close();
      }
    });
  });
});
