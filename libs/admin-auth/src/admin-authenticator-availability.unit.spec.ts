import { randomBytes } from 'node:crypto';
import { ApiError } from '@keyledger/contracts';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import { AdminAuthenticator } from './admin-authenticator.js';

const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);

/** A root admin key's KeyIssued, and the plaintext its issue answered with. */
function adminKeyIssued(keyId: string): { event: Parameters<KeyIndex['apply']>[0]; plaintext: string } {
  const material = hasher.newKey('kl', 'live');
  const event = {
    streamVersion: 1,
    type: 'KeyIssued',
    data: {
      keyId,
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
  } as const;
  return { event, plaintext: material.plaintext };
}

function issueAdminKey(index: KeyIndex, keyId = 'key_admin'): string {
  const { event, plaintext } = adminKeyIssued(keyId);
  index.apply(event);
  return plaintext;
}

function indexWithAdminKey(): { index: KeyIndex; plaintext: string } {
  const index = new KeyIndex();
  return { index, plaintext: issueAdminKey(index) };
}

async function errorOf(action: () => Promise<unknown>): Promise<ApiError> {
  try {
    await action();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError');
}

/** A trusted projection whose catch-up with the store runs `catchUp` and says whether it got there. */
function projection(catchUp: () => boolean) {
  const calls: number[] = [];
  return {
    calls,
    isFailingClosed: () => false,
    caughtUpWithStore: (timeoutMs: number) => {
      calls.push(timeoutMs);
      return Promise.resolve(catchUp());
    },
  };
}

describe('AdminAuthenticator while its projection cannot be trusted', () => {
  it('answers UNAVAILABLE, not UNAUTHENTICATED, while the projection fails closed (loading or stalled)', async () => {
    const { index, plaintext } = indexWithAdminKey();
    let failingClosed = true;
    const authenticator = new AdminAuthenticator(index, hasher, {
      projection: { isFailingClosed: () => failingClosed, caughtUpWithStore: () => Promise.resolve(true) },
    });

    expect((await errorOf(() => authenticator.authenticate(plaintext))).code).toBe('UNAVAILABLE');
    // Even an unknown key: whether it is unknown cannot be told yet.
    expect((await errorOf(() => authenticator.authenticate(hasher.newKey('kl', 'live').plaintext))).code).toBe('UNAVAILABLE');

    failingClosed = false;
    expect(await authenticator.authenticate(plaintext)).toMatchObject({ keyId: 'key_admin', tenant: 'root' });
    expect((await errorOf(() => authenticator.authenticate(hasher.newKey('kl', 'live').plaintext))).code).toBe('UNAUTHENTICATED');
  });

  it('still asks for a key first: a missing bearer key is UNAUTHENTICATED whatever the projection', async () => {
    const { index } = indexWithAdminKey();
    const authenticator = new AdminAuthenticator(index, hasher, {
      projection: { isFailingClosed: () => true, caughtUpWithStore: () => Promise.resolve(true) },
    });
    expect((await errorOf(() => authenticator.authenticate(undefined))).code).toBe('UNAUTHENTICATED');
  });
});

describe('AdminAuthenticator and a key the store holds but the projection has not applied yet', () => {
  it('accepts a key issued a moment ago once the projection has caught up with the store', async () => {
    const index = new KeyIndex();
    const known = issueAdminKey(index, 'key_known');
    const fresh = adminKeyIssued('key_fresh');
    // The new key reaches the index only during the catch-up, as the relay's message would.
    const catchingUp = projection(() => index.apply(fresh.event) || true);
    const authenticator = new AdminAuthenticator(index, hasher, { projection: catchingUp, catchUpTimeoutMs: 1500 });

    expect(await authenticator.authenticate(fresh.plaintext)).toMatchObject({ keyId: 'key_fresh', tenant: 'root' });
    expect(catchingUp.calls).toEqual([1500]);
    // A key the projection knows is judged at once: no catch-up for it.
    expect(await authenticator.authenticate(known)).toMatchObject({ keyId: 'key_known' });
    expect(catchingUp.calls).toHaveLength(1);
  });

  it('answers UNAUTHENTICATED for a key still unknown once caught up, and UNAVAILABLE when it could not catch up', async () => {
    const { index } = indexWithAdminKey();
    const unknown = hasher.newKey('kl', 'live').plaintext;
    const caughtUp = new AdminAuthenticator(index, hasher, { projection: projection(() => true) });
    expect(await errorOf(() => caughtUp.authenticate(unknown))).toMatchObject({ code: 'UNAUTHENTICATED', message: 'the admin key is not valid (NOT_FOUND)' });

    const behind = new AdminAuthenticator(index, hasher, { projection: projection(() => false) });
    expect(await errorOf(() => behind.authenticate(unknown))).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/behind the store; retry/) });
  });

  it('waits for no catch-up for a key no newer store could make valid (malformed)', async () => {
    const { index } = indexWithAdminKey();
    const watched = projection(() => true);
    const authenticator = new AdminAuthenticator(index, hasher, { projection: watched });
    expect(await errorOf(() => authenticator.authenticate('not a key at all'))).toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'the admin key is not valid (MALFORMED)',
    });
    expect(watched.calls).toEqual([]);
  });
});
