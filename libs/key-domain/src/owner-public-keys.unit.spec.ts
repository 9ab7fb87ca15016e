import { evolveOwnerPublicKeys, ownerPublicKeyOf } from './owner-public-keys.js';

const keyA = 'A'.repeat(43) + '=';
const keyB = 'B'.repeat(43) + '=';

describe('owner public keys', () => {
  it('keeps the latest key per owner and none for an owner that registered none', () => {
    let table = evolveOwnerPublicKeys(new Map(), { tenant: 'acme', owner: 'billing', publicKey: keyA });
    table = evolveOwnerPublicKeys(table, { tenant: 'acme', owner: 'orders', publicKey: keyA });
    table = evolveOwnerPublicKeys(table, { tenant: 'acme', owner: 'billing', publicKey: keyB });
    expect(ownerPublicKeyOf(table, 'billing')).toBe(keyB);
    expect(ownerPublicKeyOf(table, 'orders')).toBe(keyA);
    expect(ownerPublicKeyOf(table, 'search')).toBeUndefined();
  });

  it('does not change the table it was given', () => {
    const before = evolveOwnerPublicKeys(new Map(), { tenant: 'acme', owner: 'billing', publicKey: keyA });
    evolveOwnerPublicKeys(before, { tenant: 'acme', owner: 'billing', publicKey: keyB });
    expect(ownerPublicKeyOf(before, 'billing')).toBe(keyA);
  });
});
