import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SealedKeyError } from './sealed-key.errors.js';

// DER prefixes of SubjectPublicKeyInfo and PKCS#8 for X25519 (OID 1.3.101.110): a raw
// 32-byte key appended to them is a complete DER key Node can import.
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const RAW_LENGTH = 32;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function rawBytes(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!BASE64.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed, 'base64');
  return bytes.length === RAW_LENGTH ? bytes : undefined;
}

/**
 * Parses an owner's X25519 public key given as base64 of the raw 32 bytes or as PEM
 * (SubjectPublicKeyInfo). Throws `SealedKeyError` INVALID_PUBLIC_KEY for anything else,
 * including a key of another curve.
 */
export function parseX25519PublicKey(input: string | KeyObject): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input !== 'string') key = input.type === 'private' ? createPublicKey(input) : input;
    else {
      const raw = rawBytes(input);
      key = raw ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }) : createPublicKey(input.trim());
    }
  } catch {
    throw new SealedKeyError('INVALID_PUBLIC_KEY', 'not an X25519 public key (base64 of 32 bytes or PEM)');
  }
  if (key.asymmetricKeyType !== 'x25519') throw new SealedKeyError('INVALID_PUBLIC_KEY', `expected an X25519 key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

/**
 * Parses an X25519 private key given as base64 of the raw 32 bytes or as PEM (PKCS#8).
 * Throws `SealedKeyError` INVALID_PRIVATE_KEY for anything else.
 */
export function parseX25519PrivateKey(input: string | KeyObject): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input !== 'string') key = input;
    else {
      const raw = rawBytes(input);
      key = raw ? createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' }) : createPrivateKey(input.trim());
    }
  } catch {
    throw new SealedKeyError('INVALID_PRIVATE_KEY', 'not an X25519 private key (base64 of 32 bytes or PEM)');
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'x25519') throw new SealedKeyError('INVALID_PRIVATE_KEY', 'expected an X25519 private key');
  return key;
}

/** The raw 32 bytes of an X25519 public key, base64: the form stored in events and envelopes. */
export function x25519PublicKeyToBase64(key: KeyObject): string {
  const der = parseX25519PublicKey(key).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_PREFIX.length).toString('base64');
}
