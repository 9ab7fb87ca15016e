import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import type { CommandContext } from '@keyledger/admin-auth';
import { ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import { ConcurrencyConflictError } from '@keyledger/event-store';
import { DomainError } from '@keyledger/key-domain';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import { KeyCommands } from './key-commands.js';

describe('key commands', () => {
  let ctx: TestContext;
  let keys: KeyCommands;
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const issue = () => keys.issue({ tenant: 'acme', owner: 'svc', environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);

  /** The store reads `run` makes, by stream (`readAll` as `*`). */
  async function readsOf(run: () => Promise<unknown>): Promise<string[]> {
    const reads = [jest.spyOn(ctx.store, 'readStream'), jest.spyOn(ctx.store, 'streamVersion'), jest.spyOn(ctx.store, 'readAll')];
    try {
      await run();
      return reads.flatMap((read) => read.mock.calls.map(([stream]) => (typeof stream === 'string' ? stream : '*')));
    } finally {
      for (const read of reads) read.mockRestore();
    }
  }

  beforeAll(async () => {
    ctx = await createTestContext('key-commands');
    keys = new KeyCommands({ store: ctx.store, hasher: new KeyHasher([{ version: 1, secret: randomBytes(32) }]), index: new KeyIndex() });
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('reads a key’s stream once per command: loaded, authorized, decided and appended at the version read', async () => {
    const { keyId } = await issue();
    const stream = streamIdOf('key', keyId);
    expect(await readsOf(() => keys.update({ keyId, name: 'renamed' }, admin))).toEqual([stream]);
    expect(await readsOf(() => keys.suspend({ keyId, reason: 'audit' }, admin))).toEqual([stream]);
    expect(await readsOf(() => keys.resume(keyId, admin))).toEqual([stream]);
    expect(await readsOf(() => keys.get(keyId, admin.caller))).toEqual([stream]);
    expect(await readsOf(() => keys.revoke({ keyId, reason: 'retired', waitForVerifiers: false }, admin))).toEqual([stream]);
    expect(await readsOf(() => issue())).toHaveLength(1);
  });

  it('runs the whole attempt again after a lost race, reading the stream again', async () => {
    const { keyId } = await issue();
    const append = jest.spyOn(ctx.store, 'append').mockRejectedValueOnce(new ConcurrencyConflictError(streamIdOf('key', keyId), 1, 2));
    try {
      expect(await readsOf(() => keys.suspend({ keyId, reason: 'audit' }, admin))).toEqual([streamIdOf('key', keyId), streamIdOf('key', keyId)]);
    } finally {
      append.mockRestore();
    }
    expect((await keys.get(keyId, admin.caller)).status).toBe('suspended');
  });

  it('refuses with the domain’s own error, unwrapped, and does not retry it', async () => {
    const { keyId } = await issue();
    await keys.revoke({ keyId, reason: 'retired', waitForVerifiers: false }, admin);
    let refusal: unknown;
    const reads = await readsOf(() => keys.resume(keyId, admin).catch((error: unknown) => (refusal = error)));
    expect(refusal).toBeInstanceOf(DomainError);
    expect(refusal).toMatchObject({ code: 'INVALID_TRANSITION' });
    expect(reads).toHaveLength(1);
  });

  it('answers KEY_NOT_FOUND for a key of a tenant the caller may not see', async () => {
    const { keyId } = await issue();
    const globex: CommandContext = { caller: { keyId: 'key_other', tenant: 'globex', scopes: ['keyledger:*'] }, correlationId: 'test' };
    await expect(keys.suspend({ keyId, reason: 'x' }, globex)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
  });
});
