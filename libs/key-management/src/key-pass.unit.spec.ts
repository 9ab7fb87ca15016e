import { ApiError } from '@keyledger/contracts';
import { changeKeyInPass, newKeyPass } from './key-pass.js';

describe('a pass over keys', () => {
  it('files each key as done, lost to another writer, or failed, and reports only failures', async () => {
    const pass = newKeyPass();
    const failures: unknown[] = [];
    const onFailure = (error: unknown): void => void failures.push(error);
    const broken = new Error('database down');
    await changeKeyInPass(pass, 'key_done', () => Promise.resolve(), onFailure);
    await changeKeyInPass(pass, 'key_raced', () => Promise.reject(new ApiError('CONCURRENCY_CONFLICT', 'appended first')), onFailure);
    await changeKeyInPass(pass, 'key_revoked', () => Promise.reject(new ApiError('INVALID_TRANSITION', 'already revoked')), onFailure);
    await changeKeyInPass(pass, 'key_invalid', () => Promise.reject(new ApiError('INVALID_ARGUMENT', 'bad')), onFailure);
    await changeKeyInPass(pass, 'key_broken', () => Promise.reject(broken), onFailure);
    expect(pass).toEqual({ done: ['key_done'], lost: ['key_raced', 'key_revoked'], failed: ['key_invalid', 'key_broken'] });
    expect(failures).toHaveLength(2);
    expect(failures[1]).toBe(broken);
  });
});
