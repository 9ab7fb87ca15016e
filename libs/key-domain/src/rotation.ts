import { DomainError } from './domain-error.js';

/** What a rotation recorded on the old key. */
export interface KeyRotation {
  readonly replacedBy: string;
  /** Epoch milliseconds: from then on the old key reads as expired. */
  readonly graceEndsAt: number;
  /** An emergency rotation also revoked the old key at once. */
  readonly emergency: boolean;
}

/**
 * A rotated key's expiry: its own, but never past the grace end. Folding it into `expiresAt`
 * lets every reader (verifier, issuer, snapshots) reject the old key as EXPIRED without
 * knowing about rotations.
 */
export function capExpiry(expiresAt: number | undefined, rotation: KeyRotation | undefined): number | undefined {
  if (!rotation) return expiresAt;
  return expiresAt === undefined ? rotation.graceEndsAt : Math.min(expiresAt, rotation.graceEndsAt);
}

/** When the grace of a rotation at `now` ends; an emergency rotation has none. */
export function graceEnd(now: Date, graceMs: number, emergency: boolean): Date {
  if (!Number.isSafeInteger(graceMs) || graceMs < 0) throw new DomainError('INVALID_ARGUMENT', 'a grace period is a whole number of milliseconds, 0 or more');
  return new Date(emergency ? now.getTime() : now.getTime() + graceMs);
}
