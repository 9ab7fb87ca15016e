import type { KeyEvent } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';
import type { IssueKey, KeyCommand } from './key-decider.js';
import { decideKey } from './key-decider.js';
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
  it('issues an active key with normalised scopes and ranges', () => {
    const { record, events } = run([issue]);
    expect(events).toHaveLength(1);
    expect(record).toMatchObject({ status: 'active', version: 1, scopes: ['orders:read', 'users:*'], ipAllowlist: ['10.0.0.0/8', '192.168.0.0/16'] });
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

  it('refuses commands on a key that was never issued', () => {
    expect(codeOf(() => decideKey({ type: 'SuspendKey', keyId }, undefined, now))).toBe('KEY_NOT_FOUND');
  });

  it('treats a key past its expiry as expired: no suspend, but revocation is allowed', () => {
    const { record } = run([{ ...issue, expiresAt: new Date('2026-01-02T00:00:00Z') }]);
    const later = new Date('2026-01-03T00:00:00Z');
    expect(codeOf(() => decideKey({ type: 'SuspendKey', keyId }, record, later))).toBe('INVALID_TRANSITION');
    expect(decideKey({ type: 'RevokeKey', keyId, reason: 'cleanup' }, record, later)).toHaveLength(1);
  });
});
