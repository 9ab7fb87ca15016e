import fc from 'fast-check';
import { DomainError } from './domain-error.js';
import { checkTenantKeyQuota, keysAddedByChange, keysAddedByRotation, takesQuotaSlot } from './key-quota.js';

const NOW = Date.parse('2026-06-01T00:00:00.000Z');

describe('tenant key quota', () => {
  it('counts active and suspended keys until they are revoked or expire, a rotated key until its grace ends', () => {
    expect(takesQuotaSlot('active', undefined, NOW)).toBe(true);
    expect(takesQuotaSlot('suspended', undefined, NOW)).toBe(true);
    expect(takesQuotaSlot('revoked', undefined, NOW)).toBe(false);
    expect(takesQuotaSlot('active', NOW + 1, NOW)).toBe(true);
    expect(takesQuotaSlot('active', NOW, NOW)).toBe(false);
    expect(takesQuotaSlot('suspended', NOW - 1, NOW)).toBe(false);
  });

  it('adds one key by a rotation with a grace, none by an emergency rotation', () => {
    expect(keysAddedByRotation(false)).toBe(1);
    expect(keysAddedByRotation(true)).toBe(0);
  });

  it('adds one key by a change that brings an expired key back, none by any other change', () => {
    const expired = { status: 'active', expiresAt: NOW - 1 } as const;
    expect(keysAddedByChange(expired, { status: 'active', expiresAt: NOW + 1 }, NOW)).toBe(1);
    expect(keysAddedByChange(expired, { status: 'active', expiresAt: undefined }, NOW)).toBe(1);
    expect(keysAddedByChange({ status: 'suspended', expiresAt: NOW - 1 }, { status: 'suspended', expiresAt: NOW + 1 }, NOW)).toBe(1);
    expect(keysAddedByChange(expired, expired, NOW)).toBe(0);
    expect(keysAddedByChange({ status: 'active', expiresAt: NOW + 1 }, { status: 'active', expiresAt: undefined }, NOW)).toBe(0);
    expect(keysAddedByChange({ status: 'revoked', expiresAt: undefined }, { status: 'revoked', expiresAt: undefined }, NOW)).toBe(0);
  });

  it('refuses exactly the commands that would take a tenant beyond its quota, with TENANT_KEY_QUOTA_EXCEEDED', () => {
    fc.assert(
      fc.property(fc.nat(200), fc.nat(2), fc.integer({ min: 1, max: 200 }), (live, adding, quota) => {
        let refusal: unknown;
        try {
          checkTenantKeyQuota('acme', live, adding, quota);
        } catch (error) {
          refusal = error;
        }
        const refused = refusal instanceof DomainError && refusal.code === 'TENANT_KEY_QUOTA_EXCEEDED';
        return refused === (adding > 0 && live + adding > quota) && (refused || refusal === undefined);
      }),
      { numRuns: 2000 },
    );
  });

  it('admits the last slot and refuses the next, naming the tenant and its quota', () => {
    expect(() => checkTenantKeyQuota('acme', 2, 1, 3)).not.toThrow();
    expect(() => checkTenantKeyQuota('acme', 3, 1, 3)).toThrow('tenant acme has 3 live keys and may hold 3');
    // A tenant over a lowered quota may still change and replace keys in an emergency.
    expect(() => checkTenantKeyQuota('acme', 5, 0, 3)).not.toThrow();
  });
});
