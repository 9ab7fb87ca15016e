import { generateKeyPairSync } from 'node:crypto';
import { SealedKeyError } from './sealed-key.errors.js';
import { ackTokenHash, newAckToken, openSealedKey, sealKey, type SealedKeyEnvelope } from './sealed-key.js';
import { parseX25519PrivateKey, parseX25519PublicKey, x25519PublicKeyToBase64 } from './x25519-keys.js';

const owner = generateKeyPairSync('x25519');
const keyId = 'key_01JD0000000000000000000000';
const plaintext = 'kl_live_5mY3ecretKeyMaterialThatMustNotLeak0123';

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof SealedKeyError) return error.code;
    throw error;
  }
  return undefined;
}

/** The same base64 field with one bit flipped in its first byte. */
function flipped(field: string): string {
  const bytes = Buffer.from(field, 'base64');
  bytes[0] = bytes[0]! ^ 1;
  return bytes.toString('base64');
}

describe('sealed key envelope', () => {
  it('opens to the sealed key and key id with the recipient private key', () => {
    const envelope = sealKey(keyId, plaintext, owner.publicKey);
    expect(openSealedKey(envelope, owner.privateKey)).toEqual({ keyId, key: plaintext });
    // Survives the wire: JSON out and back.
    expect(openSealedKey(JSON.parse(JSON.stringify(envelope)), owner.privateKey)).toEqual({ keyId, key: plaintext });
  });

  it('writes a versioned envelope with fresh randomness and no plaintext', () => {
    const first = sealKey(keyId, plaintext, owner.publicKey);
    const second = sealKey(keyId, plaintext, owner.publicKey);
    expect(first).toMatchObject({ v: 1, alg: 'X25519-HKDF-SHA256-AES-256-GCM', keyId });
    expect(Buffer.from(first.epk, 'base64')).toHaveLength(32);
    expect(Buffer.from(first.nonce, 'base64')).toHaveLength(12);
    expect(Buffer.from(first.tag, 'base64')).toHaveLength(16);
    expect(first.epk).not.toBe(second.epk);
    expect(first.nonce).not.toBe(second.nonce);
    expect(first.ciphertext).not.toBe(second.ciphertext);
    expect(JSON.stringify(first)).not.toContain(plaintext);
    expect(JSON.stringify(first)).not.toContain(Buffer.from(plaintext).toString('base64'));
  });

  it.each(['epk', 'nonce', 'ciphertext', 'tag'] as const)('refuses an envelope whose %s was changed', (field) => {
    const envelope = sealKey(keyId, plaintext, owner.publicKey);
    const tampered: SealedKeyEnvelope = { ...envelope, [field]: flipped(envelope[field]) };
    expect(codeOf(() => openSealedKey(tampered, owner.privateKey))).toBe('SEALED_KEY_OPEN_FAILED');
  });

  it('refuses an envelope moved to another key id', () => {
    const envelope = sealKey(keyId, plaintext, owner.publicKey);
    expect(codeOf(() => openSealedKey({ ...envelope, keyId: 'key_01JD0000000000000000000001' }, owner.privateKey))).toBe('SEALED_KEY_OPEN_FAILED');
  });

  it('refuses to open with another recipient private key', () => {
    const envelope = sealKey(keyId, plaintext, owner.publicKey);
    const stranger = generateKeyPairSync('x25519');
    expect(codeOf(() => openSealedKey(envelope, stranger.privateKey))).toBe('SEALED_KEY_OPEN_FAILED');
  });

  it('refuses a low-order ephemeral key as a failed open, not a crash', () => {
    const envelope = sealKey(keyId, plaintext, owner.publicKey);
    expect(codeOf(() => openSealedKey({ ...envelope, epk: Buffer.alloc(32).toString('base64') }, owner.privateKey))).toBe('SEALED_KEY_OPEN_FAILED');
  });

  it('tells a malformed or unknown-version envelope apart from a failed open', () => {
    const envelope = sealKey(keyId, plaintext, owner.publicKey);
    expect(codeOf(() => openSealedKey({ ...envelope, v: 3 }, owner.privateKey))).toBe('UNSUPPORTED_ENVELOPE_VERSION');
    expect(codeOf(() => openSealedKey({ ...envelope, alg: 'RSA' }, owner.privateKey))).toBe('MALFORMED_ENVELOPE');
    expect(codeOf(() => openSealedKey({ ...envelope, nonce: Buffer.alloc(8).toString('base64') }, owner.privateKey))).toBe('MALFORMED_ENVELOPE');
    expect(codeOf(() => openSealedKey({ ...envelope, tag: `${envelope.tag}!` }, owner.privateKey))).toBe('MALFORMED_ENVELOPE');
    expect(codeOf(() => openSealedKey({ ...envelope, extra: 1 }, owner.privateKey))).toBe('MALFORMED_ENVELOPE');
    expect(codeOf(() => openSealedKey('{}', owner.privateKey))).toBe('MALFORMED_ENVELOPE');
    expect(codeOf(() => openSealedKey(null, owner.privateKey))).toBe('MALFORMED_ENVELOPE');
  });
});

describe('sealed key envelope with an ack token (v2)', () => {
  it('seals the ack token beside the key, and only the recipient reads either', () => {
    const ackToken = newAckToken();
    const envelope = sealKey(keyId, plaintext, owner.publicKey, { ackToken });
    expect(envelope.v).toBe(2);
    expect(openSealedKey(JSON.parse(JSON.stringify(envelope)), owner.privateKey)).toEqual({ keyId, key: plaintext, ackToken });
    expect(JSON.stringify(envelope)).not.toContain(ackToken);
    // A rotation's envelope also names, sealed, the key it replaces.
    const rotation = sealKey(keyId, plaintext, owner.publicKey, { ackToken, replaces: 'key_01jd00000000000000000000a1' });
    expect(openSealedKey(rotation, owner.privateKey)).toEqual({ keyId, key: plaintext, ackToken, replaces: 'key_01jd00000000000000000000a1' });
    expect(JSON.stringify(rotation)).not.toContain('key_01jd00000000000000000000a1');
    expect(() => sealKey(keyId, plaintext, owner.publicKey, { replaces: 'key_01jd00000000000000000000a1' })).toThrow(RangeError);
    expect(codeOf(() => openSealedKey(envelope, generateKeyPairSync('x25519').privateKey))).toBe('SEALED_KEY_OPEN_FAILED');
  });

  it('cannot be read as the other version: the version is bound into the derived key', () => {
    const v2 = sealKey(keyId, plaintext, owner.publicKey, { ackToken: newAckToken() });
    const v1 = sealKey(keyId, plaintext, owner.publicKey);
    expect(codeOf(() => openSealedKey({ ...v2, v: 1 }, owner.privateKey))).toBe('SEALED_KEY_OPEN_FAILED');
    expect(codeOf(() => openSealedKey({ ...v1, v: 2 }, owner.privateKey))).toBe('SEALED_KEY_OPEN_FAILED');
  });

  it('makes fresh 32-byte tokens and keeps only their SHA-256', () => {
    const token = newAckToken();
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(newAckToken()).not.toBe(token);
    expect(ackTokenHash(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(ackTokenHash(token)).toBe(ackTokenHash(token));
    expect(() => sealKey(keyId, plaintext, owner.publicKey, { ackToken: 'short' })).toThrow(RangeError);
  });
});

describe('X25519 key parsing', () => {
  it('reads a public key as raw base64 or PEM and seals to either', () => {
    const raw = x25519PublicKeyToBase64(owner.publicKey);
    const pem = owner.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(Buffer.from(raw, 'base64')).toHaveLength(32);
    expect(x25519PublicKeyToBase64(parseX25519PublicKey(raw))).toBe(raw);
    expect(x25519PublicKeyToBase64(parseX25519PublicKey(pem))).toBe(raw);
    expect(openSealedKey(sealKey(keyId, plaintext, raw), owner.privateKey).key).toBe(plaintext);
    expect(openSealedKey(sealKey(keyId, plaintext, pem), owner.privateKey).key).toBe(plaintext);
  });

  it('reads a private key as raw base64 or PEM', () => {
    const pem = owner.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const raw = owner.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32).toString('base64');
    const envelope = sealKey(keyId, plaintext, owner.publicKey);
    expect(openSealedKey(envelope, pem).key).toBe(plaintext);
    expect(openSealedKey(envelope, raw).key).toBe(plaintext);
    expect(x25519PublicKeyToBase64(parseX25519PrivateKey(raw))).toBe(x25519PublicKeyToBase64(owner.publicKey));
  });

  it('refuses keys of another curve, wrong lengths and private keys given as public', () => {
    const ed = generateKeyPairSync('ed25519');
    expect(codeOf(() => parseX25519PublicKey(ed.publicKey.export({ format: 'pem', type: 'spki' }).toString()))).toBe('INVALID_PUBLIC_KEY');
    expect(codeOf(() => parseX25519PublicKey(Buffer.alloc(31).toString('base64')))).toBe('INVALID_PUBLIC_KEY');
    expect(codeOf(() => parseX25519PublicKey('not a key'))).toBe('INVALID_PUBLIC_KEY');
    expect(codeOf(() => parseX25519PrivateKey(owner.publicKey))).toBe('INVALID_PRIVATE_KEY');
    expect(codeOf(() => sealKey(keyId, plaintext, ed.publicKey))).toBe('INVALID_PUBLIC_KEY');
  });
});
