import type { EventEnvelope } from '@keyledger/contracts';
import { KeyIndex } from '@keyledger/key-projection';
import { TenantKeyQuota } from './tenant-key-quota.js';

const NOW = Date.parse('2026-06-01T00:00:00.000Z');
let serial = 0;

/** A KeyIssued as the projection applies it. */
function issued(keyId: string, tenant: string): Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'> {
  serial += 1;
  return {
    type: 'KeyIssued',
    streamVersion: 1,
    data: {
      keyId,
      tenant,
      owner: 'svc',
      environment: 'live',
      prefix: 'kl',
      digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: serial.toString(16).padStart(64, '0') },
      hint: 'kl_live_…abcd',
      scopes: [],
      ipAllowlist: [],
      metadata: {},
    },
  };
}

describe('TenantKeyQuota', () => {
  const refusal = { code: 'TENANT_KEY_QUOTA_EXCEEDED' };

  it('counts keys it added before the projection holds them, and each once after', async () => {
    const index = new KeyIndex();
    const quota = new TenantKeyQuota(index, 2);
    const add = (keyId: string) =>
      quota.admit(
        'acme',
        1,
        NOW,
        () => Promise.resolve(keyId),
        (id) => ({ keyId: id, version: 1 }),
      );
    await add('key_1');
    await add('key_2');
    await expect(add('key_3')).rejects.toMatchObject(refusal);
    index.apply(issued('key_1', 'acme'));
    index.apply(issued('key_2', 'acme'));
    await expect(add('key_3')).rejects.toMatchObject(refusal);
    index.apply({ type: 'KeyRevoked', streamVersion: 2, data: { keyId: 'key_1', reason: 'r' } });
    expect(await add('key_3')).toBe('key_3');
  });

  it('reserves the slot before the add runs, so concurrent adds cannot all pass the check', async () => {
    const quota = new TenantKeyQuota(new KeyIndex(), 3);
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const adds = Array.from({ length: 5 }, (_, n) =>
      quota.admit(
        'acme',
        1,
        NOW,
        () => gate.then(() => `key_${n}`),
        (id) => ({ keyId: id, version: 1 }),
      ),
    );
    release();
    const settled = await Promise.allSettled(adds);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
  });

  it('gives back the slot of an add that failed, and never refuses an add of no key', async () => {
    const quota = new TenantKeyQuota(new KeyIndex(), 1);
    await expect(
      quota.admit(
        'acme',
        1,
        NOW,
        () => Promise.reject(new Error('store down')),
        (id: string) => ({ keyId: id, version: 1 }),
      ),
    ).rejects.toThrow('store down');
    expect(
      await quota.admit(
        'acme',
        1,
        NOW,
        () => Promise.resolve('key_1'),
        (id) => ({ keyId: id, version: 1 }),
      ),
    ).toBe('key_1');
    expect(
      await quota.admit(
        'acme',
        0,
        NOW,
        () => Promise.resolve('key_2'),
        (id) => ({ keyId: id, version: 1 }),
      ),
    ).toBe('key_2');
    // Another tenant has slots of its own.
    expect(
      await quota.admit(
        'globex',
        1,
        NOW,
        () => Promise.resolve('key_3'),
        (id) => ({ keyId: id, version: 1 }),
      ),
    ).toBe('key_3');
  });
});
