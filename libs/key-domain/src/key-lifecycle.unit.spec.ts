import { DomainError } from './domain-error.js';
import type { KeyLifecycleCommand, KeyLifecycleState } from './key-lifecycle.js';
import { decideKeyLifecycle, evolveKeyLifecycle, initialKeyLifecycleState } from './key-lifecycle.js';

const now = new Date('2026-01-01T00:00:00Z');

function run(commands: readonly KeyLifecycleCommand[], at = now): KeyLifecycleState {
  return commands.reduce((state, command) => decideKeyLifecycle(command, state, at).reduce(evolveKeyLifecycle, state), initialKeyLifecycleState());
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof DomainError ? error.code : 'not a DomainError';
  }
}

describe('key lifecycle', () => {
  const issued = run([{ type: 'IssueKey', keyId: 'k1' }]);

  it('issues an active key once', () => {
    expect(issued).toMatchObject({ exists: true, status: 'active', version: 1 });
    expect(codeOf(() => decideKeyLifecycle({ type: 'IssueKey', keyId: 'k1' }, issued, now))).toBe('KEY_ALREADY_EXISTS');
  });

  it('suspends and resumes an active key', () => {
    const suspended = run([
      { type: 'IssueKey', keyId: 'k1' },
      { type: 'SuspendKey', keyId: 'k1' },
    ]);
    expect(suspended.status).toBe('suspended');
    expect(evolveKeyLifecycle(suspended, { type: 'KeyResumed', data: { keyId: 'k1' } }).status).toBe('active');
  });

  it('rejects a resumed revoked key', () => {
    const revoked = run([
      { type: 'IssueKey', keyId: 'k1' },
      { type: 'RevokeKey', keyId: 'k1', reason: 'leak' },
    ]);
    expect(codeOf(() => decideKeyLifecycle({ type: 'ResumeKey', keyId: 'k1' }, revoked, now))).toBe('INVALID_TRANSITION');
    expect(codeOf(() => decideKeyLifecycle({ type: 'RevokeKey', keyId: 'k1', reason: 'again' }, revoked, now))).toBe('INVALID_TRANSITION');
  });

  it('rejects resuming an active key and suspending a suspended one', () => {
    expect(codeOf(() => decideKeyLifecycle({ type: 'ResumeKey', keyId: 'k1' }, issued, now))).toBe('INVALID_TRANSITION');
    const suspended = run([
      { type: 'IssueKey', keyId: 'k1' },
      { type: 'SuspendKey', keyId: 'k1' },
    ]);
    expect(codeOf(() => decideKeyLifecycle({ type: 'SuspendKey', keyId: 'k1' }, suspended, now))).toBe('INVALID_TRANSITION');
  });

  it('refuses commands on a key that was never issued', () => {
    expect(codeOf(() => decideKeyLifecycle({ type: 'SuspendKey', keyId: 'nope' }, initialKeyLifecycleState(), now))).toBe('KEY_NOT_FOUND');
  });

  it('treats a key past its expiry as expired: no suspend, but revocation is allowed', () => {
    const expiring = run([{ type: 'IssueKey', keyId: 'k1', expiresAt: new Date('2026-01-02T00:00:00Z') }]);
    const later = new Date('2026-01-03T00:00:00Z');
    expect(codeOf(() => decideKeyLifecycle({ type: 'SuspendKey', keyId: 'k1' }, expiring, later))).toBe('INVALID_TRANSITION');
    expect(decideKeyLifecycle({ type: 'RevokeKey', keyId: 'k1', reason: 'cleanup' }, expiring, later)).toHaveLength(1);
  });
});
