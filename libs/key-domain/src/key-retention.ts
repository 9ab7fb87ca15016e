import type { RecordedKeyStatus } from './key-status.js';

/**
 * How long a revoked or expired key is remembered by every in-memory key index (verifiers,
 * issuers, rotators) after it stopped: 30 days. Within it a verification answers REVOKED or
 * EXPIRED; after it the key is forgotten and answers NOT_FOUND, so dead keys do not fill memory.
 * A constant rather than a setting: the decider's refusal to bring back a forgotten key
 * (`mayBringBack`) and every index's eviction must agree, or an index could be handed an event
 * of a key it forgot.
 */
export const KEY_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * When a key stopped being usable (epoch ms): the earlier of its revocation and its expiry;
 * undefined for a key that is live and never expires, or revoked at a time not known.
 */
export function keyStoppedAt(status: RecordedKeyStatus, expiresAt: number | undefined, revokedAt: number | undefined): number | undefined {
  const revoked = status === 'revoked' ? revokedAt : undefined;
  if (revoked === undefined) return expiresAt;
  return expiresAt === undefined ? revoked : Math.min(revoked, expiresAt);
}

/** Until when (epoch ms) an index keeps a key: its stop plus KEY_RETENTION_MS; undefined: for as long as it lives. */
export function retainedUntil(status: RecordedKeyStatus, expiresAt: number | undefined, revokedAt: number | undefined): number | undefined {
  const stopped = keyStoppedAt(status, expiresAt, revokedAt);
  return stopped === undefined ? undefined : stopped + KEY_RETENTION_MS;
}

/**
 * Whether an expired key (not revoked) may still be brought back by a new expiry at `now`: only
 * within KEY_RETENTION_MS of its expiry, while every index still holds it.
 */
export function mayBringBack(expiresAt: number | undefined, now: number): boolean {
  return expiresAt === undefined || now < expiresAt + KEY_RETENTION_MS;
}
