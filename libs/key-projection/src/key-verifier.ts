import type { VerifyResult } from '@keyledger/contracts';
import type { Admission, KeyRecord, VerifyConditions } from '@keyledger/key-domain';
import { isWellFormedKey, verificationCode } from '@keyledger/key-domain';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyIndex } from './key-index.js';

/** A verifier's rate limits and quotas, as verification uses them. */
export interface LimitCheck {
  /** Takes one use of a key's rate limits and `cost` credits of its quota, when the key is otherwise valid. */
  admit(record: KeyRecord, now: number, cost: number): Admission;
  /** What remains of a key's quota as far as this verifier knows, for answers that charge nothing. */
  remaining(record: KeyRecord, now: number): number | undefined;
}

const MALFORMED: VerifyResult = Object.freeze({ valid: false, code: 'MALFORMED' });
const NOT_FOUND: VerifyResult = Object.freeze({ valid: false, code: 'NOT_FOUND' });

/**
 * Verifies a presented key against the in-memory index: format and checksum first (no
 * lookup for a malformed key), then the digest under each pepper (newest first, stopping
 * at the first found), then the rules, then (for a key that passes them) its rate limits and
 * quota, charging `cost` credits. Never throws, whatever the input.
 */
export function verifyKey(
  index: KeyIndex,
  hasher: KeyHasher,
  presented: unknown,
  conditions: VerifyConditions,
  now: number,
  limits?: LimitCheck,
  cost = 1,
): VerifyResult {
  if (!isWellFormedKey(presented)) return MALFORMED;
  const record = findKey(index, hasher, presented as string);
  let code = verificationCode(record, conditions, now);
  if (code === 'NOT_FOUND' || !record) return NOT_FOUND;
  // Only a use that would succeed counts against the limits.
  const limited = code === 'VALID' && limits !== undefined && (record.rateLimits.length > 0 || record.credits !== undefined);
  const admission = limited ? limits.admit(record, now, cost) : undefined;
  if (admission?.allowed === false) code = admission.exhausted === 'credits' ? 'USAGE_EXCEEDED' : 'RATE_LIMITED';
  // A key with a quota says what is left, whatever the answer.
  const remaining = admission ? admission.remaining : record.credits && limits?.remaining(record, now);
  return {
    valid: code === 'VALID',
    code,
    keyId: record.keyId,
    tenant: record.tenant,
    owner: record.owner,
    scopes: record.scopes,
    env: record.environment,
    expiresAt: record.expiresAt === undefined ? null : new Date(record.expiresAt).toISOString(),
    meta: record.metadata,
    ...(admission?.allowed === false && Number.isFinite(admission.reset) ? { reset: new Date(admission.reset).toISOString() } : {}),
    ...(remaining === undefined ? {} : { remaining }),
  };
}

/** The presented key's digest, reused: findByDigest only reads it. */
const presentedDigest = new Uint8Array(32);

/** The key a presented (well-formed) plaintext is, under any configured pepper, newest first. */
export function findKey(index: KeyIndex, hasher: KeyHasher, presented: string): KeyRecord | undefined {
  const versions = hasher.pepperVersions;
  for (let rank = 0; rank < versions.length; rank += 1) {
    hasher.digestInto(presented, rank, presentedDigest);
    const record = index.findByDigest(presentedDigest, versions[rank]!);
    if (record) return record;
  }
  return undefined;
}
