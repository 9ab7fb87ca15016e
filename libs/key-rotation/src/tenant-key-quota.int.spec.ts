import { randomBytes } from 'node:crypto';
import type { CommandContext } from '@keyledger/admin-auth';
import { ROOT_TENANT } from '@keyledger/contracts';
import { PostgresEventStore } from '@keyledger/event-store';
import { KeyCommands, TenantKeyQuota } from '@keyledger/key-commands';
import { KeyIndex, LiveKeyProjection } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { KeyRotation } from './key-rotation.js';

const QUOTA = 3;
const HOUR = 3_600_000;

/**
 * The issuer's wiring in one process: commands appended to Postgres, published by the relay to
 * JetStream, applied by the live key projection the quota counts from.
 */
describe('tenant key quota (real Postgres and NATS)', () => {
  let ctx: TestContext;
  let relay: OutboxRelay;
  let projection: LiveKeyProjection;
  let keys: KeyCommands;
  let rotation: KeyRotation;
  const index = new KeyIndex();
  let now = Date.parse('2026-06-01T00:00:00.000Z');
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'quota-test' };
  const issue = (tenant: string, expiresAt?: string) =>
    keys.issue({ tenant, owner: 'svc', environment: 'live', scopes: ['orders:read'], ipAllowlist: [], metadata: {}, rateLimits: [], expiresAt }, admin);
  const rotate = (keyId: string, emergency: boolean) => rotation.rotate({ keyId, emergency, waitForVerifiers: false, graceMs: HOUR }, admin);
  const errorOf = (promise: Promise<unknown>): Promise<{ code?: string; message?: string }> =>
    promise.then(
      () => ({}),
      (error: unknown) => error as { code?: string; message?: string },
    );
  const eventCount = async () => Number((await ctx.ownerDb.query<{ n: string }[]>('SELECT count(*) AS n FROM events'))[0]!.n);
  /** Waits until the projection holds every event stored so far, as the issuer's would a moment after its commands. */
  const applied = (keyIds: string[]) => eventually('the projection has the keys', () => keyIds.every((keyId) => index.get(keyId)), Boolean);

  beforeAll(async () => {
    ctx = await createTestContext('key-quota');
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { batchSize: 100, pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
    projection = new LiveKeyProjection(
      { ...ctx, index },
      { instanceId: 'quota-test', maxBusSilenceMs: 30_000, failClosed: true, heartbeatMs: 60_000, catchUpBatchSize: 100, announce: false },
    );
    await projection.start();
    const deps = {
      // Events carry the test's time: the indexes forget keys by it (an expired key a month later).
      store: new PostgresEventStore(ctx.appDb, ctx.auth, { clock: () => new Date(now) }),
      hasher: new KeyHasher([{ version: 1, secret: randomBytes(32) }]),
      index,
      quota: new TenantKeyQuota(index, QUOTA),
      clock: () => new Date(now),
    };
    keys = new KeyCommands(deps);
    rotation = new KeyRotation(deps);
  });

  afterAll(async () => {
    await projection?.stop();
    await relay?.stop();
    await ctx.close();
  });

  it('refuses the key beyond the quota with TENANT_KEY_QUOTA_EXCEEDED, records nothing, and leaves other tenants alone', async () => {
    const issued = [await issue('acme'), await issue('acme'), await issue('acme')];
    const before = await eventCount();
    expect(await errorOf(issue('acme'))).toMatchObject({
      code: 'TENANT_KEY_QUOTA_EXCEEDED',
      message: expect.stringContaining('tenant acme has 3 live keys and may hold 3'),
    });
    expect(await eventCount()).toBe(before);
    await applied(issued.map((key) => key.keyId));
    expect(await errorOf(issue('acme'))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
    expect((await issue('globex')).view.tenant).toBe('globex');
  });

  it('frees a slot when a key is revoked, once the projection has applied the revocation', async () => {
    const [first] = index.listByTenant('acme');
    await keys.revoke({ keyId: first!.keyId, reason: 'retired', waitForVerifiers: false }, admin);
    await eventually(
      'the revocation is applied',
      () => index.get(first!.keyId)?.status,
      (status) => status === 'revoked',
    );
    const replacement = await issue('acme');
    expect(replacement.view.status).toBe('active');
    await applied([replacement.keyId]);
    expect(index.liveKeyCount('acme', now)).toBe(QUOTA);
    expect(await errorOf(issue('acme'))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
  });

  it('admits exactly one of many concurrent issues for the last slot', async () => {
    const tenant = 'initech';
    await applied([(await issue(tenant)).keyId, (await issue(tenant)).keyId]);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => issue(tenant)));
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    for (const result of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected'))
      expect(result.reason).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
    await eventually(
      'the projection has the tenant',
      () => index.liveKeyCount(tenant, now),
      (live) => live === QUOTA,
    );
  });

  it('counts a rotated key in its grace: a rotation with a grace is refused at the quota, an emergency rotation is not', async () => {
    const tenant = 'umbrella';
    const held = [await issue(tenant), await issue(tenant), await issue(tenant)];
    await applied(held.map((key) => key.keyId));
    const before = await eventCount();
    expect(await errorOf(rotate(held[0]!.keyId, false))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
    expect(await eventCount()).toBe(before);
    const emergency = await rotate(held[0]!.keyId, true);
    expect(emergency.previous.status).toBe('revoked');
    await applied([emergency.keyId]);
    await eventually(
      'the old key is revoked in the projection',
      () => index.get(held[0]!.keyId)?.status,
      (status) => status === 'revoked',
    );
    expect(index.liveKeyCount(tenant, now)).toBe(QUOTA);
  });

  it('keeps counting the old key of a rotation with a grace until its grace ends', async () => {
    const tenant = 'stark';
    const held = [await issue(tenant), await issue(tenant)];
    await applied(held.map((key) => key.keyId));
    const rotated = await rotate(held[0]!.keyId, false);
    await applied([rotated.keyId]);
    expect(index.get(held[0]!.keyId)?.expiresAt).toBe(now + HOUR);
    expect(index.liveKeyCount(tenant, now)).toBe(QUOTA);
    expect(await errorOf(issue(tenant))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
  });

  it('stops counting a key once it expires', async () => {
    const tenant = 'hooli';
    const soon = new Date(now + HOUR).toISOString();
    const held = [await issue(tenant, soon), await issue(tenant), await issue(tenant)];
    await applied(held.map((key) => key.keyId));
    expect(await errorOf(issue(tenant))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
    now += 2 * HOUR;
    expect((await issue(tenant)).view.status).toBe('active');
    // The rotated key of the test before has left its grace too.
    expect((await issue('stark')).view.status).toBe('active');
  });

  it('counts an expired key brought back by a new expiry: refused at the quota, recording nothing, admitted once a slot frees', async () => {
    const tenant = 'hooli';
    await eventually(
      'the projection has the tenant',
      () => index.liveKeyCount(tenant, now),
      (count) => count === QUOTA,
    );
    // By expiry, not by list order: key ids issued within one millisecond are in no set order.
    const listed = index.listByTenant(tenant);
    const expired = listed.find((key) => key.expiresAt !== undefined && key.expiresAt < now);
    const live = listed.filter((key) => key !== expired);
    expect(expired?.expiresAt).toBeLessThan(now);
    const before = await eventCount();
    const later = new Date(now + 24 * HOUR).toISOString();
    expect(await errorOf(keys.update({ keyId: expired!.keyId, expiresAt: later }, admin))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
    expect(await errorOf(keys.update({ keyId: expired!.keyId, expiresAt: null }, admin))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
    expect(await eventCount()).toBe(before);
    // A change that brings nothing back needs no slot, even at the quota.
    expect((await keys.update({ keyId: live[0]!.keyId, expiresAt: later }, admin)).expiresAt).toBe(later);
    expect((await keys.update({ keyId: expired!.keyId, name: 'archived' }, admin)).status).toBe('expired');

    await keys.revoke({ keyId: live[1]!.keyId, reason: 'retired', waitForVerifiers: false }, admin);
    await eventually(
      'the revocation is applied',
      () => index.get(live[1]!.keyId)?.status,
      (status) => status === 'revoked',
    );
    expect((await keys.update({ keyId: expired!.keyId, expiresAt: later }, admin)).status).toBe('active');
    // Counted from then on, before and after the projection applies it.
    expect(await errorOf(issue(tenant))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
    await eventually(
      'the key is back in the projection',
      () => index.liveKeyCount(tenant, now),
      (count) => count === QUOTA,
    );
    expect(await errorOf(issue(tenant))).toMatchObject({ code: 'TENANT_KEY_QUOTA_EXCEEDED' });
  });
});
