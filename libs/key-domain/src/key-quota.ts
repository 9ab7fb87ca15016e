import { DomainError } from './domain-error.js';
import type { KeyRecord } from './key-record.js';
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
 * Live keys a change of one key adds to its tenant at `now`: one when the key took no slot
 * before and takes one after (an update that moves an expired key's expiry into the future, or
 * removes it, brings the key back), else none. Every command that may bring a key back is
 * counted through here, so a tenant cannot grow past its quota by reviving keys.
 */
export function keysAddedByChange(before: Pick<KeyRecord, 'status' | 'expiresAt'>, after: Pick<KeyRecord, 'status' | 'expiresAt'>, now: number): 0 | 1 {
  return !takesQuotaSlot(before.status, before.expiresAt, now) && takesQuotaSlot(after.status, after.expiresAt, now) ? 1 : 0;
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
