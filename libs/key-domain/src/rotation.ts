import type { GraceEndReason } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';

/** A grace that ended before its recorded end (KeyGraceEnded). */
export interface GraceEnded {
  /** Epoch milliseconds: from then on the old key reads as expired. */
  readonly at: number;
  readonly reason: GraceEndReason;
  /** The old key's last recorded use the decision saw; undefined: never used. */
  readonly lastUsedAt: number | undefined;
}

/** What a rotation recorded on the old key. */
export interface KeyRotation {
  readonly replacedBy: string;
  /** Epoch milliseconds: from then on the old key reads as expired. */
  readonly graceEndsAt: number;
  /** An emergency rotation also revoked the old key at once. */
  readonly emergency: boolean;
  /** Epoch milliseconds; undefined for rotations recorded before it was. */
  readonly rotatedAt?: number | undefined;
  /** The quiet period recorded with the rotation; undefined: the grace runs its full length. */
  readonly quietPeriodMs?: number | undefined;
  /** Set once the grace ended early. */
  readonly graceEnded?: GraceEnded | undefined;
}

/** When the grace of a rotation ends: the recorded end, or the earlier instant it was ended at. */
export function effectiveGraceEnd(rotation: KeyRotation): number {
  return rotation.graceEnded === undefined ? rotation.graceEndsAt : Math.min(rotation.graceEndsAt, rotation.graceEnded.at);
}

/**
 * A rotated key's expiry: its own, but never past the grace end (an early one included). Folding
 * it into `expiresAt` lets every reader (verifier, issuer, snapshots) reject the old key as
 * EXPIRED without knowing about rotations.
 */
export function capExpiry(expiresAt: number | undefined, rotation: KeyRotation | undefined): number | undefined {
  if (!rotation) return expiresAt;
  const end = effectiveGraceEnd(rotation);
  return expiresAt === undefined ? end : Math.min(expiresAt, end);
}

/** When the grace of a rotation at `now` ends; an emergency rotation has none. */
export function graceEnd(now: Date, graceMs: number, emergency: boolean): Date {
  if (!Number.isSafeInteger(graceMs) || graceMs < 0) throw new DomainError('INVALID_ARGUMENT', 'a grace period is a whole number of milliseconds, 0 or more');
  return new Date(emergency ? now.getTime() : now.getTime() + graceMs);
}
