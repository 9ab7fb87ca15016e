import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import type { CommandContext } from '@keyledger/admin-auth';
import type { KeyRotatedData } from '@keyledger/contracts';
import { ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import type { NewEvent } from '@keyledger/event-store';
import { ConcurrencyConflictError } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import { KeyCommands } from '@keyledger/key-commands';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import { KeyRotation } from './key-rotation.js';

describe('rotation', () => {
  let ctx: TestContext;
  let keys: KeyCommands;
  let rotation: KeyRotation;
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const request = (keyId: string) => ({ keyId, graceMs: 60_000, emergency: false, waitForVerifiers: false });

  beforeAll(async () => {
    ctx = await createTestContext('key-rotation');
    const deps = { store: ctx.store, hasher: new KeyHasher([{ version: 1, secret: randomBytes(32) }]), index: new KeyIndex() };
    keys = new KeyCommands(deps);
    rotation = new KeyRotation(deps);
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('leaves a rotation that won the race on the old key to its writer, and completes it when called again once that writer is gone', async () => {
    const { keyId } = await keys.issue({ tenant: 'acme', owner: 'svc', environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
    const rivalReplacement = newPrefixedId('key');
    const append = ctx.store.append.bind(ctx.store);
    // Another writer's KeyRotated lands first; its KeyIssued is still on its way (or never comes).
    const raced = jest.spyOn(ctx.store, 'append').mockImplementationOnce(async (streamId: string, version: number, events: readonly NewEvent[]) => {
      const rival = events.map((event) => ({ ...event, data: { ...(event.data as KeyRotatedData), replacedBy: rivalReplacement } }));
      await append(streamId, version, rival);
      throw new ConcurrencyConflictError(streamId, version, version + 1);
    });
    try {
      await expect(rotation.rotate(request(keyId), admin)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    } finally {
      raced.mockRestore();
    }
    expect(await ctx.store.streamVersion(streamIdOf('key', rivalReplacement))).toBe(0);

    const completed = await rotation.rotate(request(keyId), admin);
    expect(completed.keyId).toBe(rivalReplacement);
    expect(completed.view).toMatchObject({ rotatedFrom: keyId, status: 'active' });
  });

  it('completes an interrupted rotation as an emergency when its revoke loses a race to another command on the old key', async () => {
    const { keyId } = await keys.issue({ tenant: 'acme', owner: 'svc', environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
    const append = ctx.store.append.bind(ctx.store);
    // The process dies between the two appends: the KeyRotated is recorded, the replacement never issued.
    const crashed = jest
      .spyOn(ctx.store, 'append')
      .mockImplementationOnce(append)
      .mockImplementationOnce(() => Promise.reject(new Error('connection lost')));
    try {
      await expect(rotation.rotate(request(keyId), admin)).rejects.toThrow('connection lost');
    } finally {
      crashed.mockRestore();
    }
    const rotated = (await ctx.store.readStream(streamIdOf('key', keyId))).find((event) => event.type === 'KeyRotated');
    const { replacedBy } = rotated!.data as KeyRotatedData;
    expect(await ctx.store.streamVersion(streamIdOf('key', replacedBy))).toBe(0);

    // The emergency rotation's revoke of the old key loses to another writer's, which lands first.
    const raced = jest.spyOn(ctx.store, 'append').mockImplementationOnce(async (streamId: string, version: number, events: readonly NewEvent[]) => {
      await append(streamId, version, events);
      throw new ConcurrencyConflictError(streamId, version, version + 1);
    });
    let completed;
    try {
      completed = await rotation.rotate({ ...request(keyId), emergency: true }, admin);
    } finally {
      raced.mockRestore();
    }
    expect(completed.keyId).toBe(replacedBy);
    expect(completed.view).toMatchObject({ rotatedFrom: keyId, status: 'active' });
    expect(completed.previous.status).toBe('revoked');
  });
});
