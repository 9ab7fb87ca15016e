import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadKeyServiceConfig } from '@keyledger/config';
import type { KeyUsed } from '@keyledger/contracts';
import { expandUsageBatch, usageBatchV3Schema } from '@keyledger/contracts';
import { MIN_NATS_MAX_PAYLOAD, NatsMessageLimitTooSmall, SPLIT_MESSAGE_BYTES, watchMessageLimit } from '@keyledger/event-bus';
import { newPrefixedId } from '@keyledger/ids';
import { parsePeppers } from '@keyledger/key-secrets';
import { createLogger, createMetricsRegistry } from '@keyledger/observability';
import type { AuthenticatedNats, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, readStreamMessages, startAuthenticatedNats } from '@keyledger/testing';
import { DEFAULT_USAGE_BUFFER_SETTINGS, UsageGroups, usageRecording } from '@keyledger/usage-recorder';
import type { Infrastructure } from './infrastructure.js';
import { openInfrastructure } from './infrastructure.js';

const logger = createLogger({ service: 'test', level: 'silent' });

/** A test context on a NATS server of its own whose max_payload is `maxPayload`, for the tests of one describe. */
function onServer(label: string, maxPayload: number): { ctx: () => TestContext; nats: () => AuthenticatedNats } {
  let ctx: TestContext | undefined;
  let nats: AuthenticatedNats | undefined;
  beforeAll(async () => {
    ctx = await createTestContext(label, {
      nats: async (topology) => {
        nats = await startAuthenticatedNats(topology, { maxPayload });
        return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8') };
      },
    });
  });
  afterAll(async () => {
    await ctx?.close();
    // Also when the context failed after its server started.
    await nats?.stop();
  });
  return { ctx: () => ctx!, nats: () => nats! };
}

/** Opens the connections the verifier service opens, as its NATS user. */
const openAsVerifier = (ctx: TestContext, nats: AuthenticatedNats): Promise<Infrastructure> =>
  openInfrastructure('verifier', loadKeyServiceConfig({ ...ctx.serviceEnv, NATS_CREDS: nats.credsFile('verifier') }), {
    instance: 'verifier-limit-test',
    logger,
    metrics: createMetricsRegistry('verifier'),
  });

/** Usage records unlike each other (a key, an address and long scopes each): a batch of the default size encodes to more than the smallest server takes. */
function largeRecords(): KeyUsed[] {
  return Array.from({ length: DEFAULT_USAGE_BUFFER_SETTINGS.batchRecords }, (_, i) => ({
    keyId: newPrefixedId('key'),
    tenant: 'acme',
    at: Date.now() + i,
    ip: `10.${(i >> 8) & 255}.${i & 255}.1`,
    scopes: ['orders', 'users', 'billing'].map((area) => `${area}:${randomBytes(64).toString('hex')}`),
    code: 'VALID',
    cost: 1,
    transport: 'http',
  }));
}

/**
 * A NATS server whose max_payload is below NATS's default: a service refuses one that would
 * refuse an event, at start and after a reconnect, saying so; on one it runs on, what it splits
 * (usage batches) fits, so nothing is refused by the server and nothing dropped.
 */
describe('NATS max_payload', () => {
  describe('below what an event needs', () => {
    const maxPayload = 128 * 1024;
    const server = onServer('smallpayload', maxPayload);

    it('stops a service at start with a message naming the limit and what is needed', async () => {
      const opened = openAsVerifier(server.ctx(), server.nats());
      await expect(opened).rejects.toBeInstanceOf(NatsMessageLimitTooSmall);
      await expect(opened).rejects.toThrow(`accepts messages of at most ${maxPayload} bytes (max_payload); Keyledger needs at least ${MIN_NATS_MAX_PAYLOAD}`);
    });
  });

  describe('at the smallest Keyledger runs on', () => {
    const server = onServer('minpayload', MIN_NATS_MAX_PAYLOAD);

    it('stores every usage record of a batch larger than the server takes, in messages under its limit', async () => {
      const ctx = server.ctx();
      const infrastructure = await openAsVerifier(ctx, server.nats());
      try {
        const records = largeRecords();
        const unsplit = new UsageGroups();
        records.forEach((record) => unsplit.add(record));
        unsplit.seal();
        // The case under test: split at NATS's default message size less headroom, as before, some message would be over this server's limit.
        const asBefore = unsplit.encode({ instance: 'probe', createdAt: Date.now(), newBatchId: () => newPrefixedId('ub') }, 512 * 1024);
        expect(Math.max(...asBefore.map((message) => Buffer.byteLength(message.payload)))).toBeGreaterThan(MIN_NATS_MAX_PAYLOAD);

        const recording = usageRecording({
          js: infrastructure.js,
          topology: infrastructure.topology,
          authenticator: infrastructure.auth.authenticator,
          peppers: parsePeppers(ctx.serviceEnv['KEYLEDGER_HASH_PEPPERS']!),
          instance: 'verifier-limit-test',
          metrics: createMetricsRegistry('verifier'),
          logger,
          settings: { flushIntervalMs: 60_000, retryDelayMs: 20 },
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
        for (const message of messages) expect(message.data.length).toBeLessThanOrEqual(SPLIT_MESSAGE_BYTES);
        const stored = messages.flatMap((message) => expandUsageBatch(usageBatchV3Schema.parse(message.json())));
        expect(new Set(stored.map((record) => record.keyId))).toEqual(new Set(records.map((record) => record.keyId)));
      } finally {
        await infrastructure.close();
      }
    });

    it('says so when a reconnect reaches the server restarted with a smaller max_payload', async () => {
      const infrastructure = await openAsVerifier(server.ctx(), server.nats());
      try {
        const told: NatsMessageLimitTooSmall[] = [];
        watchMessageLimit(infrastructure.nc, (error) => told.push(error));
        await server.nats().halt();
        await server.nats().restart({ maxPayload: 64 * 1024 });
        await eventually(
          'the reconnect checked',
          () => told.length,
          (count) => count > 0,
          30_000,
        );
        expect(told[0]!.maxPayload).toBe(64 * 1024);
        expect(told[0]!.message).toContain(`Keyledger needs at least ${MIN_NATS_MAX_PAYLOAD}`);
      } finally {
        await infrastructure.close();
        // Back as it was, and JetStream answering again, for the context's own clean-up (it removes the streams).
        await server.nats().halt();
        await server.nats().restart({ maxPayload: MIN_NATS_MAX_PAYLOAD });
        const ctx = server.ctx();
        await eventually(
          'JetStream answering after the restart',
          () =>
            ctx.jsm.streams.info(ctx.topology.eventStream).then(
              () => true,
              () => false,
            ),
          Boolean,
          30_000,
        );
      }
    });
  });
});
