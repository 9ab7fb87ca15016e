import type { KeyEvent } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';
import type { IssueKey, KeyCommand, RotateKey } from './key-decider.js';
import { decideKey, replacementOf } from './key-decider.js';
import { KEY_RETENTION_MS } from './key-retention.js';
import { statusAt } from './key-status.js';
import type { KeyRecord } from './key-record.js';
import { evolveKey } from './key-record.js';

const now = new Date('2026-01-01T00:00:00Z');
const keyId = 'key_01jdaaaaaaaaaaaaaaaaaaaaaa';
const issue: IssueKey = {
  type: 'IssueKey',
  keyId,
  tenant: 'acme',
  owner: 'billing-service',
  environment: 'live',
  prefix: 'kl',
  digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
  hint: 'kl_live_…abcd',
  scopes: ['orders:read', 'orders:read', 'users:*'],
  ipAllowlist: ['10.0.0.0/8', '::ffff:192.168.0.0/112'],
  metadata: { team: 'payments' },
};

function run(commands: readonly KeyCommand[], at = now): { record: KeyRecord | undefined; events: KeyEvent[] } {
  let record: KeyRecord | undefined;
  const events: KeyEvent[] = [];
  for (const command of commands) {
    for (const event of decideKey(command, record, at)) {
      events.push(event);
      record = evolveKey(record, event);
    }
  }
  return { record, events };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof DomainError ? error.code : 'not a DomainError';
  }
}

describe('key decider', () => {
  it('takes an anomaly, its handling and its acknowledgement as changing nothing of the key but its version', () => {
    const { record } = run([issue]);
    const findingId = '0190f4c6-0000-7000-8000-000000000001';
    const at = now.toISOString();
    const after = [
      { type: 'AnomalyDetected', data: { keyId, tenant: 'acme', kind: 'usage-spike', severity: 'high', detectedAt: at } },
      {
        type: 'KeyIncidentHandled',
        data: { keyId, tenant: 'acme', incident: { type: 'AnomalyDetected', eventId: findingId }, policy: 'notify', action: 'notify', at },
      },
      { type: 'AnomalyAcknowledged', data: { keyId, tenant: 'acme', findingId, acknowledgedBy: 'admin-key:key_x', at } },
    ].reduce<KeyRecord | undefined>((state, event) => evolveKey(state, event as KeyEvent), record);
    expect(after).toEqual({ ...record, version: record!.version + 3 });
  });
  it('issues an active key with normalised scopes and ranges', () => {
    const { record, events } = run([issue]);
    expect(events).toHaveLength(1);
    expect(record).toMatchObject({ status: 'active', version: 1, scopes: ['orders:read', 'users:*'], ipAllowlist: ['10.0.0.0/8', '192.168.0.0/16'] });
  });

  it('issues a honeytoken, marked as such, and never as a rotation’s replacement', () => {
    const { record, events } = run([{ ...issue, honeytoken: true }]);
    expect(events[0]).toMatchObject({ type: 'KeyIssued', data: { honeytoken: true } });
    expect(record).toMatchObject({ status: 'active', honeytoken: true });
    expect(run([issue]).events[0]!.data).not.toHaveProperty('honeytoken');
    expect(codeOf(() => decideKey({ ...issue, honeytoken: true, rotatedFrom: 'key_01jdbbbbbbbbbbbbbbbbbbbbbb' }, undefined, now))).toBe('INVALID_ARGUMENT');
  });

  it('refuses to rotate a honeytoken, in an emergency or not: its replacement would be a real key', () => {
    const { record } = run([{ ...issue, honeytoken: true }]);
    const rotate: RotateKey = { type: 'RotateKey', keyId, replacedBy: 'key_01jdbbbbbbbbbbbbbbbbbbbbbb', graceMs: 0, emergency: false };
    expect(() => decideKey(rotate, record, now)).toThrow(/honeytoken/);
    expect(codeOf(() => decideKey(rotate, record, now))).toBe('INVALID_TRANSITION');
    expect(codeOf(() => decideKey({ ...rotate, emergency: true }, record, now))).toBe('INVALID_TRANSITION');
    // It can still be suspended and revoked: retired like any key.
    expect(
      run([
        { ...issue, honeytoken: true },
        { type: 'RevokeKey', keyId, reason: 'retired' },
      ]).record,
    ).toMatchObject({ status: 'revoked', honeytoken: true });
  });

  it('refuses to issue the same key twice, bad scopes, bad ranges and a past expiry', () => {
    const { record } = run([issue]);
    expect(codeOf(() => decideKey(issue, record, now))).toBe('KEY_ALREADY_EXISTS');
    expect(codeOf(() => decideKey({ ...issue, scopes: ['Orders'] }, undefined, now))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => decideKey({ ...issue, ipAllowlist: ['10.0.0.0/40'] }, undefined, now))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => decideKey({ ...issue, expiresAt: new Date('2025-01-01') }, undefined, now))).toBe('INVALID_ARGUMENT');
  });

  it('updates only what changes, and records nothing for a no-op update', () => {
    const { record } = run([issue]);
    expect(decideKey({ type: 'UpdateKey', keyId, scopes: ['users:*', 'orders:read'] }, record, now)).toEqual([]);
    const [event] = decideKey({ type: 'UpdateKey', keyId, scopes: ['orders:*'], expiresAt: new Date('2027-01-01') }, record, now);
    expect(event).toEqual({ type: 'KeyUpdated', data: { keyId, scopes: ['orders:*'], expiresAt: '2027-01-01T00:00:00.000Z' } });
  });

  it('suspends and resumes an active key', () => {
    expect(run([issue, { type: 'SuspendKey', keyId }]).record?.status).toBe('suspended');
    expect(run([issue, { type: 'SuspendKey', keyId }, { type: 'ResumeKey', keyId }]).record?.status).toBe('active');
  });

  it('rejects resuming a revoked key, revoking twice and updating a revoked key', () => {
    const { record } = run([issue, { type: 'RevokeKey', keyId, reason: 'leaked' }]);
    expect(codeOf(() => decideKey({ type: 'ResumeKey', keyId }, record, now))).toBe('INVALID_TRANSITION');
    expect(codeOf(() => decideKey({ type: 'RevokeKey', keyId, reason: 'again' }, record, now))).toBe('INVALID_TRANSITION');
    expect(codeOf(() => decideKey({ type: 'UpdateKey', keyId, name: 'x' }, record, now))).toBe('INVALID_TRANSITION');
  });

  it('rejects resuming an active key and suspending a suspended one', () => {
    const { record } = run([issue]);
    expect(codeOf(() => decideKey({ type: 'ResumeKey', keyId }, record, now))).toBe('INVALID_TRANSITION');
    const suspended = run([issue, { type: 'SuspendKey', keyId }]).record;
    expect(codeOf(() => decideKey({ type: 'SuspendKey', keyId }, suspended, now))).toBe('INVALID_TRANSITION');
  });

  it('says a refused transition as a person would', () => {
    const suspended = run([issue, { type: 'SuspendKey', keyId }]).record;
    expect(() => decideKey({ type: 'SuspendKey', keyId }, suspended, now)).toThrow(`cannot suspend key ${keyId}: it is already suspended`);
    const revoked = run([issue, { type: 'RevokeKey', keyId, reason: 'leaked' }]).record;
    expect(() => decideKey({ type: 'ResumeKey', keyId }, revoked, now)).toThrow(`cannot resume key ${keyId}: it is revoked`);
    expect(() => decideKey({ type: 'UpdateKey', keyId, name: 'x' }, revoked, now)).toThrow(`cannot update key ${keyId}: it is revoked`);
  });

  it('refuses commands on a key that was never issued', () => {
    expect(codeOf(() => decideKey({ type: 'SuspendKey', keyId }, undefined, now))).toBe('KEY_NOT_FOUND');
  });

  it('treats a key past its expiry as expired: no suspend, but revocation is allowed', () => {
    const { record } = run([{ ...issue, expiresAt: new Date('2026-01-02T00:00:00Z') }]);
    const later = new Date('2026-01-03T00:00:00Z');
    expect(codeOf(() => decideKey({ type: 'SuspendKey', keyId }, record, later))).toBe('INVALID_TRANSITION');
    expect(decideKey({ type: 'RevokeKey', keyId, reason: 'cleanup' }, record, later)).toHaveLength(1);
  });

  it('brings an expired key back by a new expiry within its retention, and refuses once the key indexes have forgotten it', () => {
    const expiry = new Date('2026-01-02T00:00:00Z');
    const { record } = run([{ ...issue, expiresAt: expiry }]);
    const within = new Date(expiry.getTime() + KEY_RETENTION_MS - 1);
    const beyond = new Date(expiry.getTime() + KEY_RETENTION_MS);
    const bringBack = (at: Date) => ({ type: 'UpdateKey', keyId, expiresAt: new Date(at.getTime() + 86_400_000) }) as const;
    expect(decideKey(bringBack(within), record, within)).toHaveLength(1);
    expect(codeOf(() => decideKey(bringBack(beyond), record, beyond))).toBe('INVALID_TRANSITION');
    expect(codeOf(() => decideKey({ type: 'UpdateKey', keyId, expiresAt: null }, record, beyond))).toBe('INVALID_TRANSITION');
    // Other changes bring nothing back and stay allowed.
    expect(decideKey({ type: 'UpdateKey', keyId, name: 'old' }, record, beyond)).toHaveLength(1);
  });

  describe('rotation', () => {
    const newKeyId = 'key_01jdbbbbbbbbbbbbbbbbbbbbbb';
    const rotate: RotateKey = { type: 'RotateKey', keyId, replacedBy: newKeyId, graceMs: 3_600_000, emergency: false };
    const hour = 3_600_000;

    it('records the replacement and the grace end; the old key reads as expired from then on', () => {
      const { record, events } = run([{ ...issue, expiresAt: new Date('2027-01-01T00:00:00Z') }, rotate]);
      expect(events[1]).toEqual({
        type: 'KeyRotated',
        data: { keyId, replacedBy: newKeyId, graceEndsAt: '2026-01-01T01:00:00.000Z', rotatedAt: '2026-01-01T00:00:00.000Z' },
      });
      expect(record).toMatchObject({ status: 'active', rotation: { replacedBy: newKeyId, emergency: false }, expiresAt: now.getTime() + hour });
      expect(statusAt(record!.status, record!.expiresAt, now.getTime() + hour - 1)).toBe('active');
      expect(statusAt(record!.status, record!.expiresAt, now.getTime() + hour)).toBe('expired');
    });

    it('keeps an own expiry earlier than the grace end', () => {
      const { record } = run([{ ...issue, expiresAt: new Date('2026-01-01T00:30:00Z') }, rotate]);
      expect(record?.expiresAt).toBe(Date.parse('2026-01-01T00:30:00Z'));
    });

    it('revokes the old key at once in an emergency, with no grace', () => {
      const { record, events } = run([issue, { ...rotate, emergency: true }]);
      expect(events.slice(1).map((event) => event.type)).toEqual(['KeyRotated', 'KeyRevoked']);
      expect(events[1]?.data).toMatchObject({ graceEndsAt: now.toISOString(), emergency: true });
      expect(record).toMatchObject({ status: 'revoked', rotation: { emergency: true } });
    });

    it('refuses to rotate a key twice, a revoked or expired key, a missing key and a negative grace', () => {
      expect(codeOf(() => run([issue, rotate, { ...rotate, replacedBy: 'key_01jdcccccccccccccccccccccc' }]))).toBe('INVALID_TRANSITION');
      expect(codeOf(() => run([issue, { type: 'RevokeKey', keyId, reason: 'r' }, rotate]))).toBe('INVALID_TRANSITION');
      const { record } = run([{ ...issue, expiresAt: new Date('2026-01-01T00:00:01Z') }]);
      expect(codeOf(() => decideKey(rotate, record, new Date('2026-01-02T00:00:00Z')))).toBe('INVALID_TRANSITION');
      expect(codeOf(() => decideKey(rotate, undefined, now))).toBe('KEY_NOT_FOUND');
      expect(codeOf(() => run([issue, { ...rotate, graceMs: -1 }]))).toBe('INVALID_ARGUMENT');
      expect(codeOf(() => run([issue, { ...rotate, replacedBy: keyId }]))).toBe('INVALID_ARGUMENT');
    });

    it('rotates a suspended key (that is how a suspicious key is replaced)', () => {
      const { record } = run([issue, { type: 'SuspendKey', keyId }, rotate]);
      expect(record).toMatchObject({ status: 'suspended', rotation: { replacedBy: newKeyId } });
    });

    it('gives the replacement every setting of the old key and the credits it has left, unless the rotation changes them', () => {
      const { record: old } = run([
        {
          ...issue,
          name: 'billing',
          expiresAt: new Date('2027-01-01T00:00:00Z'),
          rateLimits: [{ limit: 10, windowMs: 1000 }],
          credits: { remaining: 100, refill: { amount: 500, interval: 'daily' } },
        },
      ]);
      const spent = { ...old!, credits: { ...old!.credits!, consumed: 40 } };
      const material = { keyId: newKeyId, digest: { ...issue.digest, digest: 'b'.repeat(64) }, hint: 'kl_live_…wxyz' };
      const replacement = replacementOf(spent, material, spent.expiresAt, now);
      const issued = evolveKey(undefined, decideKey(replacement, undefined, now)[0]!);
      expect(issued).toMatchObject({
        keyId: newKeyId,
        tenant: 'acme',
        owner: 'billing-service',
        name: 'billing',
        environment: 'live',
        prefix: 'kl',
        hint: 'kl_live_…wxyz',
        scopes: old!.scopes,
        ipAllowlist: old!.ipAllowlist,
        metadata: { team: 'payments' },
        expiresAt: Date.parse('2027-01-01T00:00:00Z'),
        rateLimits: [{ limit: 10, windowMs: 1000 }],
        credits: { granted: 60, consumed: 0, refill: { amount: 500, interval: 'daily' } },
        rotatedFrom: keyId,
        status: 'active',
      });
      const changed = replacementOf(spent, { ...material, scopes: ['orders:write'], credits: null, expiresAt: null, metadata: {} }, spent.expiresAt, now);
      expect(changed).toMatchObject({ scopes: ['orders:write'], credits: undefined, expiresAt: undefined, metadata: {} });
    });
  });
});
