import { randomBytes } from 'node:crypto';
import type { CommandContext } from '@keyledger/admin-auth';
import { ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import { KeyCommands } from '@keyledger/key-commands';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import { KeyRotation } from './key-rotation.js';

/** Admin rights come only from the admin namespace, and an admin hands on only what it holds. */
describe('admin scopes granted by admin keys', () => {
  let ctx: TestContext;
  let keys: KeyCommands;
  let rotation: KeyRotation;
  const root: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const as = (tenant: string, scopes: string[]): CommandContext => ({ caller: { keyId: `key_${tenant}`, tenant, scopes }, correlationId: 'test' });
  const issue = (tenant: string, scopes: string[], context: CommandContext = root) =>
    keys.issue({ tenant, owner: 'svc', environment: 'live', scopes, ipAllowlist: [], metadata: {}, rateLimits: [] }, context);
  const errorOf = (promise: Promise<unknown>): Promise<{ code?: string; message?: string }> =>
    promise.then(
      () => ({}),
      (error: unknown) => error as { code?: string; message?: string },
    );
  const eventCount = async () => (await ctx.ownerDb.query<{ n: string }[]>('SELECT count(*) AS n FROM events'))[0]!.n;

  beforeAll(async () => {
    ctx = await createTestContext('admin-grants');
    const deps = { store: ctx.store, hasher: new KeyHasher([{ version: 1, secret: randomBytes(32) }]), index: new KeyIndex() };
    keys = new KeyCommands(deps);
    rotation = new KeyRotation(deps);
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('refuses every admin command to a caller whose key holds * and data-plane wildcards only', async () => {
    const everything = as('acme', ['*', 'orders:*']);
    const { keyId } = await issue('acme', ['orders:read']);
    const before = await eventCount();
    for (const refused of [
      issue('acme', ['orders:read'], everything),
      keys.update({ keyId, name: 'renamed' }, everything),
      keys.revoke({ keyId, reason: 'x', waitForVerifiers: false }, everything),
      keys.get(keyId, everything.caller),
      Promise.resolve().then(() => keys.list({ tenant: 'acme', limit: 100 }, everything.caller)),
      rotation.rotate({ keyId, emergency: false, waitForVerifiers: false }, everything),
    ])
      expect((await errorOf(refused)).code).toBe('PERMISSION_DENIED');
    expect(await eventCount()).toBe(before);
  });

  it('lets a tenant admin mint a key no stronger than its own, and refuses keyledger:* and the root tenant', async () => {
    const tenantAdmin = as('acme', ['keyledger:keys:write', 'keyledger:keys:read']);
    const before = await eventCount();
    expect(await errorOf(issue('acme', ['keyledger:*'], tenantAdmin))).toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('may not grant keyledger:*'),
    });
    expect((await errorOf(issue('acme', ['keyledger:leaks:report', 'orders:read'], tenantAdmin))).code).toBe('PERMISSION_DENIED');
    expect((await errorOf(issue('acme', ['keyledger:keys:*'], tenantAdmin))).code).toBe('PERMISSION_DENIED');
    expect((await errorOf(issue(ROOT_TENANT, ['keyledger:keys:read'], tenantAdmin))).code).toBe('PERMISSION_DENIED');
    expect(await eventCount()).toBe(before);
    const minted = await issue('acme', ['keyledger:keys:read', '*'], tenantAdmin);
    expect(minted.view.scopes).toEqual(['*', 'keyledger:keys:read']);
  });

  it('refuses an update that adds an admin scope the caller lacks, and lets it narrow a stronger key', async () => {
    const tenantAdmin = as('acme', ['keyledger:keys:write']);
    const { keyId } = await issue('acme', ['orders:read']);
    expect((await errorOf(keys.update({ keyId, scopes: ['orders:read', 'keyledger:*'] }, tenantAdmin))).code).toBe('PERMISSION_DENIED');
    expect((await keys.get(keyId, root.caller)).scopes).toEqual(['orders:read']);
    const strong = await issue('acme', ['keyledger:*', 'orders:read']);
    expect((await keys.update({ keyId: strong.keyId, scopes: ['keyledger:*'] }, tenantAdmin)).scopes).toEqual(['keyledger:*']);
  });

  it('refuses to rotate a key with admin scopes the caller lacks: the caller would receive its plaintext', async () => {
    const tenantAdmin = as('acme', ['keyledger:keys:write']);
    const strong = await issue('acme', ['keyledger:*']);
    expect((await errorOf(rotation.rotate({ keyId: strong.keyId, emergency: false, waitForVerifiers: false }, tenantAdmin))).code).toBe('PERMISSION_DENIED');
    const plain = await issue('acme', ['orders:read']);
    expect((await errorOf(rotation.rotate({ keyId: plain.keyId, emergency: false, waitForVerifiers: false, scopes: ['keyledger:*'] }, tenantAdmin))).code).toBe(
      'PERMISSION_DENIED',
    );
    expect(await ctx.store.streamVersion(streamIdOf('key', strong.keyId))).toBe(1);
    expect(await ctx.store.streamVersion(streamIdOf('key', plain.keyId))).toBe(1);
    const rotated = await rotation.rotate({ keyId: plain.keyId, emergency: false, waitForVerifiers: false }, tenantAdmin);
    expect(rotated.view.scopes).toEqual(['orders:read']);
  });
});
