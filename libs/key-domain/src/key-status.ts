/** States a key can be recorded in. `expired` is never recorded: it follows from time. */
export const RECORDED_KEY_STATUSES = ['active', 'suspended', 'revoked'] as const;
export type RecordedKeyStatus = (typeof RECORDED_KEY_STATUSES)[number];

/** The status a reader sees at a given instant. */
export type KeyStatus = RecordedKeyStatus | 'expired';

/**
 * Status at `now` (epoch ms): revocation wins over everything (it is terminal), then
 * expiry, then the recorded state. A suspended key past its expiry reads as expired,
 * because resuming it would not make it usable.
 */
export function statusAt(recorded: RecordedKeyStatus, expiresAt: number | undefined, now: number): KeyStatus {
  if (recorded === 'revoked') return 'revoked';
  if (expiresAt !== undefined && now >= expiresAt) return 'expired';
  return recorded;
}
