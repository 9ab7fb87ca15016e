import type { VerifyCode } from '@keyledger/contracts';
import type { KeyEnvironment } from './key-format.js';
import { ipAllowed, parseIp } from './ip-allowlist.js';
import type { KeyRecord } from './key-record.js';
import { statusAt } from './key-status.js';
import { isRequestableScope, scopesSatisfy } from './scopes.js';

/** What the caller asks beyond "is this key valid". */
export interface VerifyConditions {
  /** The tenant the caller expects; a key of another tenant is NOT_FOUND. */
  readonly tenant?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  /** The caller's IP address as text. */
  readonly ip?: string | undefined;
  readonly environment?: KeyEnvironment | undefined;
}

/** Decides the code for a found (or not found) key, given the conditions, at `now` (ms). */
export function verificationCode(record: KeyRecord | undefined, conditions: VerifyConditions, now: number): VerifyCode {
  if (!record || (conditions.tenant !== undefined && conditions.tenant !== record.tenant)) return 'NOT_FOUND';
  switch (statusAt(record.status, record.expiresAt, now)) {
    case 'revoked':
      return 'REVOKED';
    case 'expired':
      return 'EXPIRED';
    case 'suspended':
      return 'DISABLED';
    case 'active':
      break;
  }
  if (conditions.environment !== undefined && conditions.environment !== record.environment) return 'FORBIDDEN';
  if (record.ipRanges.length > 0) {
    const address = conditions.ip === undefined ? undefined : parseIp(conditions.ip);
    // An allowlisted key used without a (valid) caller address is refused, not waved through.
    if (!address || !ipAllowed(record.ipRanges, address)) return 'FORBIDDEN';
  }
  const scopes = conditions.scopes ?? [];
  if (scopes.length > 0 && (!scopes.every(isRequestableScope) || !scopesSatisfy(record.scopes, scopes))) return 'INSUFFICIENT_PERMISSIONS';
  return 'VALID';
}
