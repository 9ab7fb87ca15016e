import { randomBytes } from 'node:crypto';
import { ApiError } from '@keyledger/contracts';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import { AdminAuthenticator } from './admin-authenticator.js';

const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);

function indexWithAdminKey(): { index: KeyIndex; plaintext: string } {
  const material = hasher.newKey('kl', 'live');
  const index = new KeyIndex();
  index.apply({
    streamVersion: 1,
    type: 'KeyIssued',
    data: {
      keyId: 'key_admin',
      tenant: 'root',
      owner: 'ops',
      environment: 'live',
      prefix: 'kl',
      digest: material.digest,
      hint: material.hint,
      scopes: ['keyledger:*'],
      ipAllowlist: [],
      metadata: {},
    },
  });
  return { index, plaintext: material.plaintext };
}

function errorOf(action: () => unknown): ApiError {
  try {
    action();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError');
}

describe('AdminAuthenticator while its projection cannot be trusted', () => {
  it('answers UNAVAILABLE, not UNAUTHENTICATED, while the projection fails closed (loading or stalled)', () => {
    const { index, plaintext } = indexWithAdminKey();
    let failingClosed = true;
    const authenticator = new AdminAuthenticator(index, hasher, { projection: { isFailingClosed: () => failingClosed } });

    expect(errorOf(() => authenticator.authenticate(plaintext)).code).toBe('UNAVAILABLE');
    // Even an unknown key: whether it is unknown cannot be told yet.
    expect(errorOf(() => authenticator.authenticate(hasher.newKey('kl', 'live').plaintext)).code).toBe('UNAVAILABLE');

    failingClosed = false;
    expect(authenticator.authenticate(plaintext)).toMatchObject({ keyId: 'key_admin', tenant: 'root' });
    expect(errorOf(() => authenticator.authenticate(hasher.newKey('kl', 'live').plaintext)).code).toBe('UNAUTHENTICATED');
  });

  it('still asks for a key first: a missing bearer key is UNAUTHENTICATED whatever the projection', () => {
    const { index } = indexWithAdminKey();
    const authenticator = new AdminAuthenticator(index, hasher, { projection: { isFailingClosed: () => true } });
    expect(errorOf(() => authenticator.authenticate(undefined)).code).toBe('UNAUTHENTICATED');
  });
});
