import type { VerifyCode, VerifyResult } from '@keyledger/contracts';
import type { KeyEnvironment } from './key-format.js';
import { isWellFormedKey } from './key-format.js';
import { ipAllowed, parseIp } from './ip-allowlist.js';
import type { KeyRecord } from './key-record.js';
import { statusAt } from './key-status.js';
import { isRequestableScope, scopesSatisfy } from './scopes.js';
import type { Admission } from './shared-rate-limiter.js';

/** What the caller asks beyond "is this key valid". */
export interface VerifyConditions {
  /** The tenant the caller expects; a key of another tenant is NOT_FOUND. */
  readonly tenant?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  /** The caller's IP address as text. */
  readonly ip?: string | undefined;
  readonly environment?: KeyEnvironment | undefined;
}

/** The keys as a verifier holds them (its projection). */
export interface KeyState {
  /**
   * True while the keys held may be missing a revocation (the bus lost for too long, an
   * event that could not be applied): every answer is then UNAVAILABLE. The quotas' balances
   * come from the same events, so they are as stale.
   */
  isFailingClosed(now: number): boolean;
  /** The key a well-formed plaintext is, or undefined. */
  find(plaintext: string): KeyRecord | undefined;
  /**
   * True when a denial of the caller's network (SourceNetworkDenied) is in force at `now` for
   * `tenant`; for an undefined tenant, when any denial covers the address. Absent: no denials.
   */
  isDenied?(ip: string, tenant: string | undefined, now: number): boolean;
}

/** The rate limits and quotas shared with the other verifiers, as a verification reads them. */
export interface LimitsState {
  /**
   * What a key's rate limits (one use each) and quota (`cost` credits) say to one more use,
   * without taking it: taking it is the caller's part, when the verdict says `take`.
   */
  assess(record: KeyRecord, now: number, cost: number): Admission;
  /** What remains of a key's quota as far as this verifier knows, for answers that charge nothing. */
  remaining(record: KeyRecord, now: number): number | undefined;
}

/**
 * What a verification's caller does besides answering, written by decideVerification into
 * an object the caller keeps (a verification allocates none).
 */
export interface VerifyCharge {
  /** The key's limits admitted this use: the caller takes it from them (a use of each rate limit, `credits` of the quota). */
  take: boolean;
  /** Credits the use costs the key's quota, to record with it: 0 unless a quota admitted it. */
  credits: number;
  /**
   * The honeytoken presented, for the usage record alone (which reports it): the answer is the
   * NOT_FOUND of a key that does not exist. Undefined for any other key.
   */
  honeytoken?: KeyRecord | undefined;
}

const UNAVAILABLE: VerifyResult = Object.freeze({ valid: false, code: 'UNAVAILABLE' });
const MALFORMED: VerifyResult = Object.freeze({ valid: false, code: 'MALFORMED' });
const NOT_FOUND: VerifyResult = Object.freeze({ valid: false, code: 'NOT_FOUND' });
const DENIED: VerifyResult = Object.freeze({ valid: false, code: 'DENIED' });

/**
 * Decides one verification, whole: fail closed first (a replica that may have missed a
 * revocation refuses every key, whatever it is), then format and checksum (no lookup for a
 * malformed key), a denial of the caller's network, the key's rules (tenant, status, environment, IP allowlist, scopes), and,
 * for a key that passes them, its rate limits and quota for `cost` credits. A honeytoken is
 * NOT_FOUND, with `charge.honeytoken` set so that its use is recorded and reported. Changes nothing:
 * returns the answer, and writes into `charge` whether the use is to be taken from the
 * limits and the credits it costs; the caller applies that. Never throws, whatever the input.
 */
export function decideVerification(
  keys: KeyState,
  presented: unknown,
  conditions: VerifyConditions,
  cost: number,
  limits: LimitsState | undefined,
  now: number,
  charge: VerifyCharge,
): VerifyResult {
  charge.take = false;
  charge.credits = 0;
  charge.honeytoken = undefined;
  if (keys.isFailingClosed(now)) return UNAVAILABLE;
  const ip = conditions.ip;
  // Looked at only when some denial covers the address: the call's tenant is then all that decides.
  const fromDenied = ip !== undefined && keys.isDenied !== undefined && keys.isDenied(ip, undefined, now);
  if (!isWellFormedKey(presented)) return fromDenied ? DENIED : MALFORMED;
  const record = keys.find(presented as string);
  if (fromDenied && deniedFor(keys, ip, record, conditions, now)) {
    // A honeytoken presented from a denied network is still reported; the caller learns nothing of it.
    if (record?.honeytoken) charge.honeytoken = record;
    return DENIED;
  }
  // The very answer an unknown key gets (the same frozen object): nothing tells the caller it tripped a wire.
  if (record?.honeytoken) {
    charge.honeytoken = record;
    return NOT_FOUND;
  }
  const ruled = codeByRules(record, conditions, now);
  if (ruled === 'NOT_FOUND' || !record) return NOT_FOUND;
  let code: VerifyCode = ruled === 'FORBIDDEN_IP' || ruled === 'FORBIDDEN_ENVIRONMENT' ? 'FORBIDDEN' : ruled;
  // Only a use that would succeed counts against the limits.
  const limited = code === 'VALID' && limits !== undefined && (record.rateLimits.length > 0 || record.credits !== undefined);
  const admission = limited ? limits.assess(record, now, cost) : undefined;
  if (admission?.allowed === false) code = admission.exhausted === 'credits' ? 'USAGE_EXCEEDED' : 'RATE_LIMITED';
  // A key with a quota says what is left, whatever the answer.
  const remaining = admission ? admission.remaining : record.credits && limits?.remaining(record, now);
  if (admission?.allowed === true) {
    charge.take = true;
    // Credits are charged only where a quota admitted the use.
    if (record.credits !== undefined) charge.credits = cost;
  }
  // The optional fields are set only when they apply (absent, not undefined), one by one: spreading
  // small objects into the literal would cost as much as the rest of the verdict.
  const result: { -readonly [K in keyof VerifyResult]: VerifyResult[K] } = {
    valid: code === 'VALID',
    code,
    keyId: record.keyId,
    tenant: record.tenant,
    owner: record.owner,
    scopes: record.scopes,
    env: record.environment,
    expiresAt: record.expiresAt === undefined ? null : new Date(record.expiresAt).toISOString(),
    meta: record.metadata,
  };
  if (admission?.allowed === false && Number.isFinite(admission.reset)) result.reset = new Date(admission.reset).toISOString();
  if (remaining !== undefined) result.remaining = remaining;
  // Why a key is FORBIDDEN: which of its own restrictions the request did not meet (the caller holds the key; its rules are no secret to it).
  if (ruled === 'FORBIDDEN_IP') result.reason = 'ip';
  else if (ruled === 'FORBIDDEN_ENVIRONMENT') result.reason = 'environment';
  return result;
}

/**
 * Whether a denied network's call is refused: the call's tenant is the one the caller expects,
 * else the found key's. A call whose tenant is not known (an unknown key, no tenant expected) is
 * refused by any denial of the network: answering it NOT_FOUND while a denied tenant's keys
 * answer DENIED would tell the enumerator which strings are that tenant's keys.
 */
function deniedFor(keys: KeyState, ip: string, record: KeyRecord | undefined, conditions: VerifyConditions, now: number): boolean {
  const tenant = conditions.tenant ?? record?.tenant;
  return tenant === undefined || keys.isDenied!(ip, tenant, now);
}

/** A key's own rules' verdict: a verify code, FORBIDDEN split by the rule that forbade (ip or environment). */
export type RuledCode = Exclude<VerifyCode, 'FORBIDDEN'> | 'FORBIDDEN_IP' | 'FORBIDDEN_ENVIRONMENT';

/**
 * The code a found (or not found) key's own rules give, given the conditions, at `now` (ms);
 * FORBIDDEN says which rule. No limits, no fail-closed: the verifier adds those, and the
 * auditor's point-in-time check asks exactly this of a key's past state.
 */
export function codeByRules(record: KeyRecord | undefined, conditions: VerifyConditions, now: number): RuledCode {
  // A honeytoken is, to whoever presents it, a key that does not exist: whatever its state.
  if (!record || record.honeytoken || (conditions.tenant !== undefined && conditions.tenant !== record.tenant)) return 'NOT_FOUND';
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
  if (conditions.environment !== undefined && conditions.environment !== record.environment) return 'FORBIDDEN_ENVIRONMENT';
  if (record.ipRanges.length > 0) {
    const address = conditions.ip === undefined ? undefined : parseIp(conditions.ip);
    // An allowlisted key used without a (valid) caller address is refused, not waved through.
    if (!address || !ipAllowed(record.ipRanges, address)) return 'FORBIDDEN_IP';
  }
  const scopes = conditions.scopes ?? [];
  if (scopes.length > 0 && (!scopes.every(isRequestableScope) || !scopesSatisfy(record.scopes, scopes))) return 'INSUFFICIENT_PERMISSIONS';
  return 'VALID';
}
