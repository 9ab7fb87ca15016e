import { DomainError } from './domain-error.js';
import type { RecordedKeyStatus } from './key-status.js';
import { statusAt } from './key-status.js';

/**
 * Whether a key takes one of its tenant's slots at `now`: every key not revoked and not expired,
 * suspended ones included, since every verifier holds it in memory. A rotated key in its grace
 * counts until the grace ends (its expiry is the grace end): otherwise rotating each new key
 * again with a long grace would grow a tenant without bound.
 */
export function takesQuotaSlot(status: RecordedKeyStatus, expiresAt: number | undefined, now: number): boolean {
  const seen = statusAt(status, expiresAt, now);
  return seen !== 'revoked' && seen !== 'expired';
}

/**
 * Live keys a rotation adds to its tenant: one with a grace (old and new key both verify), none
 * in an emergency, which revokes the old key as it issues the new one (so a tenant at its quota
 * can still replace a leaked key).
 */
export function keysAddedByRotation(emergency: boolean): 0 | 1 {
  return emergency ? 0 : 1;
}

/**
 * Refuses a command that would take a tenant holding `live` keys beyond `quota` by `adding` more:
 * TENANT_KEY_QUOTA_EXCEEDED. A command that adds none is never refused, even over the quota (a
 * quota lowered below what a tenant holds only stops it growing).
 */
export function checkTenantKeyQuota(tenant: string, live: number, adding: number, quota: number): void {
  if (adding > 0 && live + adding > quota)
    throw new DomainError(
      'TENANT_KEY_QUOTA_EXCEEDED',
      `tenant ${tenant} has ${live} live keys and may hold ${quota}: revoke a key (or wait for one to expire) before adding another`,
    );
}
