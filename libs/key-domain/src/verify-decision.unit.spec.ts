import fc from 'fast-check';
import type { VerifyCode } from '@keyledger/contracts';
import { VERIFY_CODES } from '@keyledger/contracts';
import { formatNewKey } from './key-format.js';
import type { KeyRecord } from './key-record.js';
import { parseCidr } from './ip-allowlist.js';
import type { Admission } from './shared-rate-limiter.js';
import { SharedRateLimiter } from './shared-rate-limiter.js';
import type { KeyState, LimitsState, VerifyCharge, VerifyConditions } from './verify-decision.js';
import { decideVerification } from './verify-decision.js';

const now = Date.parse('2026-01-01T00:00:00Z');
const presented = formatNewKey('kl', 'live', (size) => new Uint8Array(size).fill(7));
const record: KeyRecord = {
  keyId: 'key_x',
  tenant: 'acme',
  owner: 'svc',
  name: undefined,
  environment: 'live',
  prefix: 'kl',
  digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
  hint: 'kl_live_…abcd',
  scopes: ['orders:*'],
  ipAllowlist: [],
  ipRanges: [],
  expiresAt: undefined,
  metadata: {},
  rateLimits: [],
  credits: undefined,
  rotatedFrom: undefined,
  rotation: undefined,
  status: 'active',
  version: 1,
};
const limited: KeyRecord = { ...record, rateLimits: [{ limit: 2, windowMs: 1000 }] };
const withQuota: KeyRecord = { ...record, credits: { refill: undefined, periodStart: 0, granted: 10, consumed: 0 } };

/** Keys held as `key` alone (or none), failing closed or not; counts its lookups. */
function keysHolding(key: KeyRecord | undefined, failingClosed = false): KeyState & { lookups: number } {
  return {
    lookups: 0,
    isFailingClosed: () => failingClosed,
    find(plaintext) {
      this.lookups += 1;
      return plaintext === presented ? key : undefined;
    },
  };
}

/** Limits that answer every assessment with `admission`; counts the assessments. */
function limitsAnswering(admission: Partial<Admission>, remaining?: number): LimitsState & { assessed: number } {
  const answer: Admission = { allowed: true, exhausted: undefined, reset: Number.NaN, remaining: undefined, ...admission };
  return {
    assessed: 0,
    assess() {
      this.assessed += 1;
      return answer;
    },
    remaining: () => remaining,
  };
}

/** The answer and the charge of one verification, as one value. */
function verdictOf(keys: KeyState, candidate: unknown, conditions: VerifyConditions, cost: number, limits: LimitsState | undefined, at: number) {
  const charge: VerifyCharge = { take: true, credits: -1 };
  const result = decideVerification(keys, candidate, conditions, cost, limits, at, charge);
  return { result, ...charge };
}

function decide(key: KeyRecord | undefined, conditions: VerifyConditions = {}, limits?: LimitsState, cost = 1, at = now) {
  return verdictOf(keysHolding(key), presented, conditions, cost, limits, at);
}

const codeOf = (key: KeyRecord | undefined, conditions: VerifyConditions = {}, at = now): VerifyCode => decide(key, conditions, undefined, 1, at).result.code;

describe('verify decision', () => {
  it('is VALID for an active key with granted scopes, with what the key is', () => {
    expect(decide(record, { scopes: ['orders:read'], tenant: 'acme', environment: 'live' })).toEqual({
      result: {
        valid: true,
        code: 'VALID',
        keyId: 'key_x',
        tenant: 'acme',
        owner: 'svc',
        scopes: ['orders:*'],
        env: 'live',
        expiresAt: null,
        meta: {},
      },
      take: false,
      credits: 0,
    });
  });

  it('is MALFORMED for anything that is not a well-formed key, without a lookup', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything()), (candidate) => {
        fc.pre(candidate !== presented);
        const keys = keysHolding(record);
        const verdict = verdictOf(keys, candidate, {}, 1, limitsAnswering({}), now);
        expect(verdict.result.code === 'MALFORMED' || verdict.result.code === 'NOT_FOUND').toBe(true);
        if (verdict.result.code === 'MALFORMED') expect(keys.lookups).toBe(0);
        expect(verdict).toMatchObject({ take: false, credits: 0 });
      }),
    );
    expect(verdictOf(keysHolding(record), `${presented.slice(0, -1)}!`, {}, 1, undefined, now).result).toEqual({
      valid: false,
      code: 'MALFORMED',
    });
  });

  it('is NOT_FOUND for an unknown key and for a key of another tenant', () => {
    expect(decide(undefined).result).toEqual({ valid: false, code: 'NOT_FOUND' });
    expect(decide(record, { tenant: 'other' }).result).toEqual({ valid: false, code: 'NOT_FOUND' });
  });

  it('answers a honeytoken exactly as an unknown key, whatever it is and whatever is asked, charging nothing; the charge names it for the usage record', () => {
    const unknown = decide(undefined).result;
    const honeytokens: KeyRecord[] = [
      { ...record, honeytoken: true },
      { ...withQuota, honeytoken: true },
      { ...limited, honeytoken: true, ipAllowlist: ['10.0.0.0/8'], ipRanges: [parseCidr('10.0.0.0/8')!] },
      { ...record, honeytoken: true, status: 'revoked' },
      { ...record, honeytoken: true, expiresAt: now - 1 },
    ];
    const asked: VerifyConditions[] = [{}, { tenant: 'acme', scopes: ['orders:read'] }, { tenant: 'other' }, { ip: '192.0.2.1', environment: 'test' }];
    for (const honeytoken of honeytokens)
      for (const conditions of asked) {
        const limits = limitsAnswering({}, 5);
        const charge: VerifyCharge = { take: true, credits: -1 };
        const result = decideVerification(keysHolding(honeytoken), presented, conditions, 3, limits, now, charge);
        expect(result).toBe(unknown);
        expect(charge).toEqual({ take: false, credits: 0, honeytoken });
        expect(limits.assessed).toBe(0);
      }
    // Any other key leaves the charge naming none.
    const charge: VerifyCharge = { take: false, credits: 0, honeytoken: { ...record, honeytoken: true } };
    decideVerification(keysHolding(record), presented, {}, 1, undefined, now, charge);
    expect(charge.honeytoken).toBeUndefined();
  });

  it('reports revoked before expired before suspended', () => {
    const expired = { ...record, expiresAt: now - 1 };
    expect(codeOf({ ...expired, status: 'revoked' })).toBe('REVOKED');
    expect(codeOf({ ...expired, status: 'suspended' })).toBe('EXPIRED');
    expect(codeOf({ ...record, status: 'suspended' })).toBe('DISABLED');
    expect(codeOf({ ...record, expiresAt: now })).toBe('EXPIRED');
    expect(decide({ ...record, expiresAt: now + 1 }).result.expiresAt).toBe(new Date(now + 1).toISOString());
  });

  it('is FORBIDDEN for the wrong environment or an address outside the allowlist', () => {
    const allowlisted = { ...record, ipAllowlist: ['10.0.0.0/8'], ipRanges: [parseCidr('10.0.0.0/8')!] };
    expect(codeOf(record, { environment: 'test' })).toBe('FORBIDDEN');
    expect(codeOf(allowlisted, { ip: '10.1.2.3' })).toBe('VALID');
    expect(codeOf(allowlisted, { ip: '::ffff:10.1.2.3' })).toBe('VALID');
    expect(codeOf(allowlisted, { ip: '11.1.2.3' })).toBe('FORBIDDEN');
    expect(codeOf(allowlisted, {})).toBe('FORBIDDEN');
    expect(codeOf(allowlisted, { ip: 'not an ip' })).toBe('FORBIDDEN');
  });

  it('says which restriction made a key FORBIDDEN, and gives no reason otherwise', () => {
    const allowlisted = { ...record, ipAllowlist: ['10.0.0.0/8'], ipRanges: [parseCidr('10.0.0.0/8')!] };
    expect(decide(record, { environment: 'test' }).result).toMatchObject({ code: 'FORBIDDEN', reason: 'environment' });
    expect(decide(allowlisted, { ip: '11.1.2.3' }).result).toMatchObject({ code: 'FORBIDDEN', reason: 'ip' });
    expect(decide(allowlisted, {}).result).toMatchObject({ code: 'FORBIDDEN', reason: 'ip' });
    expect(decide(allowlisted, { environment: 'test', ip: '11.1.2.3' }).result).toMatchObject({ reason: 'environment' });
    expect(decide(allowlisted, { ip: '10.1.2.3' }).result).not.toHaveProperty('reason');
    expect(decide(record, { scopes: ['users:read'] }).result).not.toHaveProperty('reason');
    expect(decide({ ...record, status: 'revoked' }).result).not.toHaveProperty('reason');
  });

  it('is INSUFFICIENT_PERMISSIONS for a scope not granted, or not a scope at all', () => {
    expect(codeOf(record, { scopes: ['users:read'] })).toBe('INSUFFICIENT_PERMISSIONS');
    expect(codeOf(record, { scopes: ['orders:*'] })).toBe('INSUFFICIENT_PERMISSIONS');
  });

  it('is RATE_LIMITED when a rate limit refuses, with when to try again, and takes nothing', () => {
    const limits = limitsAnswering({ allowed: false, exhausted: 'rate-limit', reset: now + 500 });
    expect(decide(limited, {}, limits)).toMatchObject({
      result: { valid: false, code: 'RATE_LIMITED', keyId: 'key_x', reset: new Date(now + 500).toISOString() },
      take: false,
      credits: 0,
    });
  });

  it('is USAGE_EXCEEDED when the quota cannot cover the cost, with what remains, and no reset for a quota that never refills', () => {
    const limits = limitsAnswering({ allowed: false, exhausted: 'credits', reset: Number.POSITIVE_INFINITY, remaining: 2 });
    const verdict = decide(withQuota, {}, limits, 5);
    expect(verdict).toMatchObject({ result: { valid: false, code: 'USAGE_EXCEEDED', remaining: 2 }, take: false, credits: 0 });
    expect(verdict.result).not.toHaveProperty('reset');
  });

  it('takes an admitted use from the limits, and charges its cost only to a key with a quota', () => {
    expect(decide(limited, {}, limitsAnswering({}), 3)).toMatchObject({ result: { code: 'VALID' }, take: true, credits: 0 });
    const verdict = decide(withQuota, {}, limitsAnswering({ remaining: 7 }), 3);
    expect(verdict).toMatchObject({ result: { code: 'VALID', remaining: 7 }, take: true, credits: 3 });
  });

  it('neither assesses nor takes for a key without limits, or without shared limits at all', () => {
    const limits = limitsAnswering({});
    expect(decide(record, {}, limits)).toMatchObject({ result: { code: 'VALID' }, take: false, credits: 0 });
    expect(limits.assessed).toBe(0);
    expect(decide(withQuota, {}, undefined)).toMatchObject({ result: { code: 'VALID' }, take: false, credits: 0 });
    expect(decide(withQuota, {}, undefined).result).not.toHaveProperty('remaining');
  });

  it('says what remains of a quota on an answer that charges nothing, without assessing the limits', () => {
    const limits = limitsAnswering({}, 4);
    expect(decide(withQuota, { scopes: ['users:read'] }, limits)).toMatchObject({
      result: { code: 'INSUFFICIENT_PERMISSIONS', remaining: 4 },
      take: false,
      credits: 0,
    });
    expect(limits.assessed).toBe(0);
  });

  it('is UNAVAILABLE for every request while the keys are failing closed, and neither looks up nor charges', () => {
    const limits = limitsAnswering({});
    fc.assert(
      fc.property(fc.oneof(fc.constant(presented), fc.anything()), fc.integer({ min: 0, max: 1000 }), (candidate, cost) => {
        const keys = keysHolding(withQuota, true);
        const verdict = verdictOf(keys, candidate, {}, cost, limits, now);
        expect(verdict).toEqual({ result: { valid: false, code: 'UNAVAILABLE' }, take: false, credits: 0 });
        expect(keys.lookups).toBe(0);
      }),
    );
    expect(limits.assessed).toBe(0);
  });

  it('answers with every verify code but MALFORMED, UNAVAILABLE and DENIED from the key and its limits alone', () => {
    const seen = new Set<VerifyCode>();
    const key = fc.record({
      status: fc.constantFrom('active', 'suspended', 'revoked'),
      expiresAt: fc.option(fc.integer({ min: now - 10, max: now + 10 }), { nil: undefined }),
      environment: fc.constantFrom('live', 'test'),
      rateLimits: fc.constantFrom([], limited.rateLimits),
      credits: fc.constantFrom(undefined, withQuota.credits),
    });
    const admission = fc.record({
      allowed: fc.boolean(),
      exhausted: fc.constantFrom('rate-limit', 'credits'),
      reset: fc.constantFrom(now + 25, Number.POSITIVE_INFINITY),
      remaining: fc.constantFrom(undefined, 0, 6),
    });
    const conditions = fc.record(
      { tenant: fc.constantFrom('acme', 'other'), scopes: fc.constantFrom(['orders:read'], ['users:read']), environment: fc.constantFrom('live', 'test') },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.option(key, { nil: undefined }),
        conditions,
        fc.option(admission, { nil: undefined }),
        fc.integer({ min: 0, max: 5 }),
        (state, asked, answer, cost) => {
          const found = state && ({ ...record, ...state } as KeyRecord);
          const limits = answer && limitsAnswering({ ...answer, exhausted: answer.allowed ? undefined : answer.exhausted }, 9);
          const { result, take, credits } = decide(found, asked, limits, cost);
          seen.add(result.code);
          const limitedKey = found !== undefined && (found.rateLimits.length > 0 || found.credits !== undefined);
          // The limits are asked only about a limited key that passes its rules, and only what they admit is taken.
          const assessed = limits !== undefined && limits.assessed > 0;
          expect(result.valid).toBe(result.code === 'VALID');
          expect(take).toBe(assessed && answer!.allowed);
          expect(credits).toBe(take && found!.credits !== undefined ? cost : 0);
          if (assessed) expect(limitedKey).toBe(true);
          if (result.code === 'RATE_LIMITED' || result.code === 'USAGE_EXCEEDED') expect(assessed && !answer!.allowed).toBe(true);
          if (result.code === 'VALID' && limitedKey && limits) expect(take).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
    expect([...seen].sort()).toEqual(VERIFY_CODES.filter((code) => code !== 'MALFORMED' && code !== 'UNAVAILABLE' && code !== 'DENIED').sort());
  });

  it('with a shared rate limiter: admits the limit, then refuses until the window ends', () => {
    const limiter = new SharedRateLimiter('solo');
    limiter.setMembers([]);
    const limits: LimitsState = {
      assess: (key, at) => limiter.assess(key.keyId, key.rateLimits, at, at + 30),
      remaining: () => undefined,
    };
    const charge: VerifyCharge = { take: false, credits: 0 };
    const codes = [0, 1, 2, 999, 1000].map((offset) => {
      const { code } = decideVerification(keysHolding(limited), presented, {}, 1, limits, now + offset, charge);
      if (charge.take) limiter.take();
      return code;
    });
    expect(codes).toEqual(['VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED', 'VALID']);
  });
});
