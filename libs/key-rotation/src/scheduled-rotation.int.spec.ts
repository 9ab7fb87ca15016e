import { randomBytes } from 'node:crypto';
import { ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import type { CommandContext } from '@keyledger/admin-auth';
import { KeyCommands } from '@keyledger/key-commands';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import { KeyRotation } from './key-rotation.js';
import { ScheduledRotation } from './scheduled-rotation.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const JITTER = 60_000;

describe('scheduled rotation', () => {
  let ctx: TestContext;
  const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  let now = Date.now();
  const clock = (): Date => new Date(now);

  /** A replica: its own key index, kept current from the store as its projection would be. */
  function replica(): { rotation: ScheduledRotation; sync: () => Promise<void> } {
    const index = new KeyIndex();
    const keys = new KeyRotation({ store: ctx.store, hasher, index, clock, systemActor: 'system:rotator' });
    const rotation = new ScheduledRotation({ rotation: keys, store: ctx.store, index, logger: ctx.logger, clock }, { intervalMs: 60_000, jitterMs: JITTER });
    return {
      rotation,
      sync: async () => {
        for (const event of await ctx.store.readAll(START_OF_LOG, 100_000, 'key').then((page) => page.events)) index.apply(event);
      },
    };
  }

  beforeAll(async () => {
    ctx = await createTestContext('scheduled-rotation');
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('rotates each key past its maximum age once, with the policy’s grace, across two replicas', async () => {
    const keys = new KeyCommands({ store: ctx.store, hasher, index: new KeyIndex(), clock });
    const tenants = new TenantSettingsCommands({ store: ctx.store, clock });
    const issue = (tenant: string, owner: string, scopes: string[] = []) =>
      keys.issue({ tenant, owner, environment: 'live', scopes, ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
    const due = await Promise.all([issue('acme', 'svc'), issue('acme', 'svc'), issue('acme', 'svc')]);
    const steady = await issue('acme', 'steady');
    const unpoliced = await issue('globex', 'svc');
    const adminKey = await issue('acme', 'ops', ['keyledger:keys:read']);
    await tenants.setRotationPolicy({ tenant: 'acme', maxAgeMs: DAY, graceMs: HOUR }, admin);
    await tenants.setRotationPolicy({ tenant: 'acme', owner: 'steady', maxAgeMs: 30 * DAY, graceMs: null }, admin);

    const [a, b] = [replica(), replica()];
    await Promise.all([a.sync(), b.sync()]);
    now += DAY - 1;
    expect(await a.rotation.runOnce()).toEqual({ rotated: [], lost: [], failed: [] });

    // Both replicas find the same due keys at once and race for each.
    now += 1 + JITTER;
    const [passA, passB] = await Promise.all([a.rotation.runOnce(), b.rotation.runOnce()]);
    const rotated = [...passA.rotated, ...passB.rotated].sort();
    expect(rotated).toEqual(due.map((k) => k.keyId).sort());
    expect([...passA.failed, ...passB.failed]).toEqual([]);
    expect([...passA.lost, ...passB.lost].sort()).toEqual(due.map((k) => k.keyId).sort());

    const all = await ctx.store.readAll(START_OF_LOG, 100_000, 'key').then((page) => page.events);
    for (const { keyId } of due) {
      const rotations = all.filter((event) => event.streamId === streamIdOf('key', keyId) && event.type === 'KeyRotated');
      expect(rotations).toHaveLength(1);
      expect(rotations[0]!.data).toMatchObject({ graceEndsAt: new Date(now + HOUR).toISOString() });
      expect(rotations[0]!.metadata.actor).toBe('system:rotator');
      const replacements = all.filter((event) => event.type === 'KeyIssued' && (event.data as { rotatedFrom?: string }).rotatedFrom === keyId);
      expect(replacements).toHaveLength(1);
      expect(replacements[0]!.streamId).toBe(streamIdOf('key', (rotations[0]!.data as { replacedBy: string }).replacedBy));
    }
    for (const { keyId } of [steady, unpoliced, adminKey]) expect(await ctx.store.streamVersion(streamIdOf('key', keyId))).toBe(1);

    // The replacements are new keys: not due until they are a day old themselves.
    await Promise.all([a.sync(), b.sync()]);
    expect(a.rotation.dueKeys()).toEqual([]);
    now += DAY + JITTER;
    expect(
      a.rotation
        .dueKeys()
        .map((record) => record.rotatedFrom)
        .sort(),
    ).toEqual(due.map((k) => k.keyId).sort());
  });
});
