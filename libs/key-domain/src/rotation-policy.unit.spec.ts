import type { KeyEvent } from '@keyledger/contracts';
import { evolveKey } from './key-record.js';
import type { KeyRecord } from './key-record.js';
import { effectivePolicy, evolveRotationPolicies, policyAt, rotationDueAt, rotationJitter } from './rotation-policy.js';
import type { RotationPolicyTable } from './rotation-policy.js';

const DAY = 86_400_000;
const issued: KeyEvent = {
  type: 'KeyIssued',
  data: {
    keyId: 'key_01jdaaaaaaaaaaaaaaaaaaaaaa',
    tenant: 'acme',
    owner: 'billing',
    environment: 'live',
    prefix: 'kl',
    digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
    hint: 'kl_live_…abcd',
    scopes: [],
    ipAllowlist: [],
    metadata: {},
  },
};
const key = evolveKey(undefined, issued)!;
const at = (record: KeyRecord, event: KeyEvent): KeyRecord => evolveKey(record, event)!;

describe('rotation policies', () => {
  const table: RotationPolicyTable = [
    { tenant: 'acme', maxAgeMs: 90 * DAY, graceMs: DAY },
    { tenant: 'acme', owner: 'billing', maxAgeMs: 30 * DAY, graceMs: null },
    { tenant: 'acme', owner: 'legacy', maxAgeMs: null, graceMs: 3_600_000 },
  ].reduce<RotationPolicyTable>(evolveRotationPolicies, new Map());

  it('lets an owner override each setting of its tenant, and falls back to the tenant for the rest', () => {
    expect(effectivePolicy(table, 'acme', 'billing')).toEqual({ maxAgeMs: 30 * DAY, graceMs: DAY, quietPeriodMs: null });
    expect(effectivePolicy(table, 'acme', 'legacy')).toEqual({ maxAgeMs: 90 * DAY, graceMs: 3_600_000, quietPeriodMs: null });
    expect(effectivePolicy(table, 'acme', 'someone')).toEqual({ maxAgeMs: 90 * DAY, graceMs: DAY, quietPeriodMs: null });
    expect(effectivePolicy(table, 'globex', 'billing')).toEqual({ maxAgeMs: null, graceMs: null, quietPeriodMs: null });
    expect(policyAt(table, 'acme', 'billing')).toEqual({ maxAgeMs: 30 * DAY, graceMs: null, quietPeriodMs: null });
  });

  it('layers the quiet period like the other settings: the owner’s, else the tenant’s, else none', () => {
    const quiet = [
      { tenant: 'acme', maxAgeMs: null, graceMs: null, quietPeriodMs: 900_000 },
      { tenant: 'acme', owner: 'batch', maxAgeMs: null, graceMs: null, quietPeriodMs: 60_000 },
      // Recorded before quiet periods existed: the field is absent.
      { tenant: 'globex', maxAgeMs: DAY, graceMs: null },
    ].reduce<RotationPolicyTable>(evolveRotationPolicies, new Map());
    expect(effectivePolicy(quiet, 'acme', 'batch').quietPeriodMs).toBe(60_000);
    expect(effectivePolicy(quiet, 'acme', 'billing').quietPeriodMs).toBe(900_000);
    expect(policyAt(quiet, 'acme', 'billing').quietPeriodMs).toBeNull();
    expect(effectivePolicy(quiet, 'globex', 'billing')).toEqual({ maxAgeMs: DAY, graceMs: null, quietPeriodMs: null });
  });

  it('replaces a level’s policy with the newest one set', () => {
    const next = evolveRotationPolicies(table, { tenant: 'acme', maxAgeMs: null, graceMs: null });
    expect(effectivePolicy(next, 'acme', 'someone')).toEqual({ maxAgeMs: null, graceMs: null, quietPeriodMs: null });
    expect(effectivePolicy(next, 'acme', 'billing')).toEqual({ maxAgeMs: 30 * DAY, graceMs: null, quietPeriodMs: null });
  });

  it('makes a key due at its maximum age plus a jitter that depends only on its id', () => {
    const policy = { maxAgeMs: 30 * DAY, graceMs: null, quietPeriodMs: null };
    const jitter = rotationJitter(key.keyId, 60_000);
    expect(jitter).toBe(rotationJitter(key.keyId, 60_000));
    expect(jitter).toBeGreaterThanOrEqual(0);
    expect(jitter).toBeLessThanOrEqual(60_000);
    expect(rotationDueAt(key, 1000, policy, 60_000, 0)).toBe(1000 + 30 * DAY + jitter);
    expect(rotationDueAt(key, 1000, policy, 0, 0)).toBe(1000 + 30 * DAY);
    const spread = new Set(Array.from({ length: 50 }, (_, i) => rotationJitter(`key_${i}`, 60_000)));
    expect(spread.size).toBeGreaterThan(40);
  });

  it('never makes a rotated, revoked or expired key due, nor any key without a maximum age', () => {
    const policy = { maxAgeMs: DAY, graceMs: null, quietPeriodMs: null };
    const rotated = at(key, {
      type: 'KeyRotated',
      data: { keyId: key.keyId, replacedBy: 'key_01jdbbbbbbbbbbbbbbbbbbbbbb', graceEndsAt: '2100-01-01T00:00:00Z' },
    });
    const revoked = at(key, { type: 'KeyRevoked', data: { keyId: key.keyId, reason: 'r' } });
    const expired = at(key, { type: 'KeyUpdated', data: { keyId: key.keyId, expiresAt: '2000-01-01T00:00:00Z' } });
    const suspended = at(key, { type: 'KeySuspended', data: { keyId: key.keyId } });
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(rotationDueAt(rotated, 0, policy, 0, now)).toBeUndefined();
    expect(rotationDueAt(revoked, 0, policy, 0, now)).toBeUndefined();
    expect(rotationDueAt(expired, 0, policy, 0, now)).toBeUndefined();
    expect(rotationDueAt(key, 0, { maxAgeMs: null, graceMs: DAY, quietPeriodMs: null }, 0, now)).toBeUndefined();
    expect(rotationDueAt(suspended, 0, policy, 0, now)).toBe(DAY);
  });

  it('never makes a honeytoken due: it is never replaced by a usable key', () => {
    const policy = { maxAgeMs: DAY, graceMs: null, quietPeriodMs: null };
    const honeytoken = evolveKey(undefined, { ...issued, data: { ...issued.data, honeytoken: true } })!;
    expect(rotationDueAt(honeytoken, 0, policy, 0, Date.parse('2026-01-01T00:00:00Z'))).toBeUndefined();
  });
});
