import { ConcurrencyConflictError } from '@keyledger/event-store';
import { DomainError } from '@keyledger/key-domain';
import type { KeyPassOutcome } from './key-pass.js';
import { changeKeyInPass, newKeyPass } from './key-pass.js';

describe('a pass over keys', () => {
  it('files each key as done, lost to another writer, or failed, and reports only failures', async () => {
    const pass = newKeyPass();
    const failures: unknown[] = [];
    const onFailure = (error: unknown): void => void failures.push(error);
    const broken = new Error('database down');
    await changeKeyInPass(pass, 'key_done', () => Promise.resolve(), onFailure);
    await changeKeyInPass(pass, 'key_raced', () => Promise.reject(new ConcurrencyConflictError('key-key_raced', 1, 2)), onFailure);
    await changeKeyInPass(pass, 'key_revoked', () => Promise.reject(new DomainError('INVALID_TRANSITION', 'already revoked')), onFailure);
    await changeKeyInPass(pass, 'key_invalid', () => Promise.reject(new DomainError('INVALID_ARGUMENT', 'bad')), onFailure);
    await changeKeyInPass(pass, 'key_broken', () => Promise.reject(broken), onFailure);
    expect(pass).toMatchObject({ done: ['key_done'], lost: ['key_raced', 'key_revoked'], failed: ['key_invalid', 'key_broken'] });
    expect(failures).toHaveLength(2);
    expect(failures[1]).toBe(broken);
  });

  it('counts each key as its change ends, not when the pass ends', async () => {
    const counted: KeyPassOutcome[] = [];
    const pass = newKeyPass((outcome) => counted.push(outcome));
    const ignore = (): void => undefined;
    await changeKeyInPass(pass, 'key_done', () => Promise.resolve(), ignore);
    expect(counted).toEqual(['done']);
    await changeKeyInPass(pass, 'key_raced', () => Promise.reject(new DomainError('KEY_ALREADY_EXISTS', 'issued first')), ignore);
    await changeKeyInPass(pass, 'key_broken', () => Promise.reject(new Error('database down')), ignore);
    expect(counted).toEqual(['done', 'lost', 'failed']);
  });
});
