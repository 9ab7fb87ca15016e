import type { EventEnvelope } from '@keyledger/contracts';
import { digestIndexKey } from '@keyledger/key-secrets';
import { KeyIndex } from './key-index.js';

const digest = { algorithm: 'hmac-sha256' as const, pepperVersion: 1, digest: 'ab'.repeat(32) };
const issued = (keyId: string, tenant: string): Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'> => ({
  type: 'KeyIssued',
  streamVersion: 1,
  data: {
    keyId,
    tenant,
    owner: 'svc',
    environment: 'live',
    prefix: 'kl',
    digest: keyId === 'key_a' ? digest : { ...digest, digest: 'cd'.repeat(32) },
    hint: 'kl_live_…abcd',
    scopes: ['a:*'],
    ipAllowlist: [],
    metadata: {},
  },
});

describe('KeyIndex', () => {
  it('finds keys by digest and by id, and lists a tenant', () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme'));
    index.apply(issued('key_b', 'globex'));
    expect(index.findByDigest(digestIndexKey(digest))?.keyId).toBe('key_a');
    expect(index.get('key_b')?.tenant).toBe('globex');
    expect(index.listByTenant('acme').map((k) => k.keyId)).toEqual(['key_a']);
  });

  it('applies each stream version once, so redelivery and replay change nothing', () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme'));
    const revoked = { type: 'KeyRevoked', streamVersion: 2, data: { keyId: 'key_a', reason: 'x' } };
    expect(index.apply(revoked)).toBe(true);
    expect(index.apply(revoked)).toBe(false);
    expect(index.apply(issued('key_a', 'acme'))).toBe(false);
    expect(index.findByDigest(digestIndexKey(digest))).toMatchObject({ status: 'revoked', version: 2 });
  });

  it('ignores events of other kinds', () => {
    expect(new KeyIndex().apply({ type: 'AdminKeyBootstrapped', streamVersion: 1, data: { keyId: 'key_a' } })).toBe(false);
  });
});
