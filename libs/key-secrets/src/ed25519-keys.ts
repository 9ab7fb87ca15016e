import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

// DER prefixes of PKCS#8 and SubjectPublicKeyInfo for Ed25519 (OID 1.3.101.112): a raw 32-byte
// seed or public key appended to them is a complete DER key Node can import.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** An Ed25519 seed and a raw public key are 32 bytes each (RFC 8032). */
export const ED25519_RAW_KEY_BYTES = 32;

/** An Ed25519 private key from its raw 32-byte seed. */
export function ed25519PrivateKeyOfSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** An Ed25519 public key from its raw 32 bytes (RFC 8032's encoding). */
export function ed25519PublicKeyOfRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw 32 bytes of an Ed25519 public key (of a private key: its public half). */
export function ed25519RawPublicKey(key: KeyObject): Buffer {
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}
