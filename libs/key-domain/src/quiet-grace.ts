import type { KeyRecord } from './key-record.js';
import { statusAt } from './key-status.js';

/** What is known about the old key's use when deciding whether its grace ends early. */
export interface QuietGraceFacts {
  /** The old key's last recorded use, whatever its outcome (epoch ms); undefined: none recorded. */
  readonly lastUsedAt: number | undefined;
  /**
   * Every usage batch that reached the usage stream before this instant (epoch ms) is counted
   * in `lastUsedAt`; undefined when the auditor could not tell.
   */
  readonly ingestedUntil: number | undefined;
}

/** Why a grace is not ended now. */
export type QuietGraceWait =
  /** No quiet period recorded, an emergency rotation, a revoked key, a grace ended already, or not rotated at all. */
  | 'not-eligible'
  /** The grace (or the key's own expiry) is over anyway. */
  | 'grace-over'
  /** The key was used (or rotated) less than a quiet period ago. */
  | 'in-use'
  /** The auditor cannot say how complete its usage is. */
  | 'usage-unknown'
  /** Usage may be missing for part of the quiet period, or since. */
  | 'usage-lagging';

export type QuietGraceDecision =
  | { readonly close: true; readonly endedAt: number; readonly quietPeriodMs: number; readonly quietSince: number }
  | { readonly close: false; readonly reason: QuietGraceWait; readonly notBefore?: number };

/**
 * Whether the grace of a rotated key ends early at `now`, because the key has not been used
 * for its recorded quiet period.
 *
 * Usage reaches the auditor late: a verifier publishes its records every few hundred
 * milliseconds (longer while NATS is unreachable), the auditor stores them when it gets to
 * them. `usageLagMs` bounds the first delay: a verification answered at `t` is assumed to be in
 * the usage stream by `t + usageLagMs`. So a use before `ingestedUntil - usageLagMs` is
 * certainly in `lastUsedAt`, and the grace ends only when
 *
 * - the key has been quiet since `quietSince = max(rotatedAt, lastUsedAt)` for the quiet period
 *   `Q`, entirely within that trusted stretch: `quietSince + Q <= ingestedUntil - usageLagMs`, and
 * - the auditor is current: `ingestedUntil >= now - usageLagMs`, so what may be missing is a
 *   use of the last `2 × usageLagMs` at most (and, while the auditor is caught up, only what
 *   was not yet published);
 * - and `now` is before the grace end: `endedAt = now`.
 */
export function quietGraceDecision(record: KeyRecord, facts: QuietGraceFacts, now: number, usageLagMs: number): QuietGraceDecision {
  const rotation = record.rotation;
  if (!rotation || rotation.emergency || rotation.graceEnded || rotation.quietPeriodMs === undefined || rotation.rotatedAt === undefined)
    return { close: false, reason: 'not-eligible' };
  const status = statusAt(record.status, record.expiresAt, now);
  if (status === 'revoked') return { close: false, reason: 'not-eligible' };
  if (status === 'expired') return { close: false, reason: 'grace-over' };
  const quietPeriodMs = rotation.quietPeriodMs;
  const quietSince = Math.max(rotation.rotatedAt, facts.lastUsedAt ?? rotation.rotatedAt);
  const quietUntil = quietSince + quietPeriodMs;
  if (now < quietUntil) return { close: false, reason: 'in-use', notBefore: quietUntil };
  if (facts.ingestedUntil === undefined) return { close: false, reason: 'usage-unknown' };
  // Usage of the last `usageLagMs` before the watermark may still be on its way.
  const trustedUntil = facts.ingestedUntil - usageLagMs;
  if (facts.ingestedUntil < now - usageLagMs || trustedUntil < quietUntil) return { close: false, reason: 'usage-lagging', notBefore: quietUntil + usageLagMs };
  return { close: true, endedAt: now, quietPeriodMs, quietSince };
}
