import { randomBytes } from 'node:crypto';
import type { CommandContext } from '@keyledger/admin-auth';
import { ROOT_TENANT } from '@keyledger/contracts';
import { PostgresEventStore } from '@keyledger/event-store';
import { KEY_RETENTION_MS } from '@keyledger/key-domain';
import { KEY_EVICTION_MARGIN_MS, KEY_SWEEP_INTERVAL_MS, KeyIndex, LiveKeyProjection, verifyKey } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { KeyCommands } from './key-commands.js';

const DAY = 86_400_000;
const SETTINGS = { maxBusSilenceMs: 30_000, failClosed: true, heartbeatMs: 60_000, catchUpBatchSize: 100, announce: false };

/**
 * Keys revoked or expired long ago leave every key index, by the time the store's events carry
 * (real Postgres and JetStream, the relay between them): a verifier then answers them as it
 * answers a key that never existed, live and after a replay alike.
 */
describe('forgotten keys (real Postgres and NATS)', () => {
  let ctx: TestContext;
  let relay: OutboxRelay;
  const projections: LiveKeyProjection[] = [];
  let now = Date.parse('2026-02-01T00:00:00.000Z');
  const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'forgotten-keys' };
  let keys: KeyCommands;

  async function startProjection(): Promise<KeyIndex> {
    const index = new KeyIndex();
    const projection = new LiveKeyProjection({ ...ctx, index }, { instanceId: `forgotten-${projections.length}`, ...SETTINGS });
    projections.push(projection);
    await projection.start();
    return index;
  }

  beforeAll(async () => {
    ctx = await createTestContext('forgottenkeys');
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { batchSize: 100, pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
    // The store's clock is the commands' clock: events carry the time the test says.
    const store = new PostgresEventStore(ctx.appDb, ctx.auth, { clock: () => new Date(now) });
    keys = new KeyCommands({ store, hasher, index: new KeyIndex(), clock: () => new Date(now) });
  });

  afterAll(async () => {
    for (const projection of projections) await projection.stop();
    await relay?.stop();
    await ctx.close();
  });

  const issue = (expiresAt?: number) =>
    keys.issue(
      {
        tenant: 'acme',
        owner: 'svc',
        environment: 'live',
        scopes: [],
        ipAllowlist: [],
        metadata: {},
        rateLimits: [],
        expiresAt: expiresAt === undefined ? undefined : new Date(expiresAt).toISOString(),
      },
      admin,
    );

  it('answers NOT_FOUND for a key revoked, or expired, more than the retention ago, live and after a replay', async () => {
    const live = await startProjection();
    const revoked = await issue();
    const expired = await issue(now + DAY);
    const kept = await issue();
    await keys.revoke({ keyId: revoked.keyId, reason: 'retired', waitForVerifiers: false }, admin);
    const code = (index: KeyIndex, key: string): string => verifyKey(index, hasher, key, {}, now).code;
    await eventually(
      'the revocation applied',
      () => code(live, revoked.key),
      (answer) => answer === 'REVOKED',
    );
    now += 2 * DAY;
    expect(code(live, expired.key)).toBe('EXPIRED');

    // A month and more later, by the events' time: any event moves the indexes' clock on.
    now += KEY_RETENTION_MS + KEY_EVICTION_MARGIN_MS + KEY_SWEEP_INTERVAL_MS;
    const later = await issue();
    await eventually(
      'the old keys forgotten',
      () => [code(live, revoked.key), code(live, expired.key)],
      (answers) => answers.every((answer) => answer === 'NOT_FOUND'),
    );
    expect(code(live, kept.key)).toBe('VALID');
    expect(code(live, later.key)).toBe('VALID');
    expect(live.get(revoked.keyId)).toBeUndefined();

    // A replay of the same store forgets the same keys.
    const replayed = await startProjection();
    expect([code(replayed, revoked.key), code(replayed, expired.key), code(replayed, kept.key)]).toEqual(['NOT_FOUND', 'NOT_FOUND', 'VALID']);
    expect([...replayed.all()].map((record) => record.keyId).sort()).toEqual([...live.all()].map((record) => record.keyId).sort());

    // Its stream still answers, and the issuer refuses to bring the forgotten key back.
    expect((await keys.get(expired.keyId, admin.caller)).status).toBe('expired');
    await expect(keys.update({ keyId: expired.keyId, expiresAt: new Date(now + DAY).toISOString() }, admin)).rejects.toMatchObject({
      code: 'INVALID_TRANSITION',
    });
  });
});
