import { generateKeyPairSync } from 'node:crypto';
import { ROOT_TENANT } from '@keyledger/contracts';
import { ownerPublicKeyOf } from '@keyledger/key-domain';
import { x25519PublicKeyToBase64 } from '@keyledger/key-delivery';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import type { CommandContext } from '@keyledger/admin-auth';
import { TenantSettingsCommands } from './tenant-settings-commands.js';

describe('owner public keys', () => {
  let ctx: TestContext;
  let keys: TenantSettingsCommands;
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };

  beforeAll(async () => {
    ctx = await createTestContext('owner-public-keys');
    keys = new TenantSettingsCommands({ store: ctx.store });
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('keeps the latest key per owner of each tenant, stored as raw base64 whatever form it came in', async () => {
    const [first, second, other] = [0, 1, 2].map(() => generateKeyPairSync('x25519').publicKey);
    await keys.registerOwnerPublicKey({ tenant: 'acme', owner: 'billing', publicKey: first!.export({ format: 'pem', type: 'spki' }).toString() }, admin);
    await keys.registerOwnerPublicKey({ tenant: 'acme', owner: 'orders', publicKey: x25519PublicKeyToBase64(other!) }, admin);
    await keys.registerOwnerPublicKey({ tenant: 'acme', owner: 'billing', publicKey: x25519PublicKeyToBase64(second!) }, admin);
    await keys.setRotationPolicy({ tenant: 'acme', maxAgeMs: 86_400_000, graceMs: null }, admin);

    const acme = await keys.ownerPublicKeys('acme');
    expect(ownerPublicKeyOf(acme, 'billing')).toBe(x25519PublicKeyToBase64(second!));
    expect(ownerPublicKeyOf(acme, 'orders')).toBe(x25519PublicKeyToBase64(other!));
    expect(ownerPublicKeyOf(acme, 'search')).toBeUndefined();
    expect(ownerPublicKeyOf(await keys.ownerPublicKeys('globex'), 'billing')).toBeUndefined();
  });

  it('refuses a key of another tenant’s admin and a key that is not X25519', async () => {
    const publicKey = x25519PublicKeyToBase64(generateKeyPairSync('x25519').publicKey);
    const globexAdmin: CommandContext = { caller: { keyId: 'key_globex', tenant: 'globex', scopes: ['keyledger:*'] }, correlationId: 'test' };
    await expect(keys.registerOwnerPublicKey({ tenant: 'acme', owner: 'billing', publicKey }, globexAdmin)).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    await expect(keys.registerOwnerPublicKey({ tenant: 'acme', owner: 'billing', publicKey: 'QUJD' }, admin)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(ownerPublicKeyOf(await keys.ownerPublicKeys('acme'), 'billing')).not.toBe(publicKey);
  });
});
