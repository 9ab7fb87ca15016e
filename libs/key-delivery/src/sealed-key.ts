import { createCipheriv, createDecipheriv, createHash, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { SealedKeyError } from './sealed-key.errors.js';
import { parseX25519PrivateKey, parseX25519PublicKey, x25519PublicKeyToBase64 } from './x25519-keys.js';

/** The envelope of a key alone. Still read; written only when no ack token is given. */
export const SEALED_KEY_VERSION = 1;
/** The envelope of a key and the token that acknowledges its delivery (written by rotations). */
export const SEALED_KEY_ACK_VERSION = 2;
/** Every envelope version this library reads. */
export const SEALED_KEY_VERSIONS = [SEALED_KEY_VERSION, SEALED_KEY_ACK_VERSION] as const;
/** Names the construction, so a reader never guesses it from the version alone. */
export const SEALED_KEY_ALGORITHM = 'X25519-HKDF-SHA256-AES-256-GCM';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * A key sealed to one owner's X25519 public key: only the holder of the matching private key
 * can open it. Every binary field is standard base64. This is all that leaves the issuing
 * process; the key's plaintext never does.
 */
export interface SealedKeyEnvelope {
  /** 1: the ciphertext is the key; 2: it is `{"key","ackToken"}` as JSON. */
  readonly v: (typeof SEALED_KEY_VERSIONS)[number];
  readonly alg: typeof SEALED_KEY_ALGORITHM;
  /** The sealed key's id; authenticated, so it cannot be swapped onto another ciphertext. */
  readonly keyId: string;
  /** The sender's ephemeral X25519 public key, raw 32 bytes. */
  readonly epk: string;
  /** AES-GCM nonce, 12 random bytes. */
  readonly nonce: string;
  readonly ciphertext: string;
  /** AES-GCM tag, 16 bytes. */
  readonly tag: string;
}

/** A key as opened from an envelope. */
export interface OpenedKey {
  readonly keyId: string;
  readonly key: string;
  /** From a version 2 envelope: proves to the sender that this envelope was opened. */
  readonly ackToken?: string;
  /** From a version 2 envelope of a rotation: the id of the key this one replaces. */
  readonly replaces?: string;
}

const ACK_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh ack token: base64url of 32 random bytes. */
export function newAckToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the sender keeps of an ack token: SHA-256, hex. The token is random, so its hash reveals nothing. */
export function ackTokenHash(ackToken: string): string {
  return createHash('sha256').update(ackToken, 'utf8').digest('hex');
}

const base64Of = (length?: number) =>
  z.string().refine((text) => {
    const bytes = Buffer.from(text, 'base64');
    // Buffer.from skips characters it does not know; the round trip refuses them.
    return bytes.toString('base64') === text && (length === undefined ? bytes.length > 0 : bytes.length === length);
  });

/** The shape of a `SealedKeyEnvelope` (not its authenticity: only opening it checks that). */
export const sealedKeyEnvelopeSchema = z.strictObject({
  v: z.union([z.literal(SEALED_KEY_VERSION), z.literal(SEALED_KEY_ACK_VERSION)]),
  alg: z.literal(SEALED_KEY_ALGORITHM),
  keyId: z.string().min(1).max(200),
  epk: base64Of(KEY_BYTES),
  nonce: base64Of(NONCE_BYTES),
  ciphertext: base64Of(),
  tag: base64Of(TAG_BYTES),
});

// The purpose and the key id are in the HKDF info, and both public keys in the salt, so a
// derived key is only ever good for this key id, between these two parties.
// The version is in the info too: an envelope relabelled as another version cannot be opened.
function deriveKey(sharedSecret: Buffer, ephemeralPublic: string, recipientPublic: string, keyId: string, version: number): Buffer {
  const salt = Buffer.concat([Buffer.from(ephemeralPublic, 'base64'), Buffer.from(recipientPublic, 'base64')]);
  return Buffer.from(hkdfSync('sha256', sharedSecret, salt, `keyledger sealed key v${version} ${keyId}`, KEY_BYTES));
}

const ackPayloadSchema = z.strictObject({ key: z.string().min(1), ackToken: z.string().regex(ACK_TOKEN), replaces: z.string().min(1).max(200).optional() });

/**
 * Seals `key` (a key's plaintext, e.g. `kl_…`) for the owner of `recipientPublicKey`
 * (X25519; a KeyObject, base64 of the raw 32 bytes or PEM): a fresh ephemeral key pair,
 * ECDH, HKDF-SHA256 to an AES-256-GCM key, a random nonce, and the key id as additional data.
 * With `ackToken` (see `newAckToken`) the envelope is version 2 and seals the token beside the
 * key, so only its recipient can acknowledge it, and `replaces`, the id of the key it replaces
 * (so a holder of several keys knows which one to swap); without, version 1.
 */
export function sealKey(
  keyId: string,
  key: string,
  recipientPublicKey: string | KeyObject,
  options: { ackToken?: string; replaces?: string } = {},
): SealedKeyEnvelope {
  const recipient = parseX25519PublicKey(recipientPublicKey);
  if (options.ackToken !== undefined && !ACK_TOKEN.test(options.ackToken)) throw new RangeError('an ack token is base64url of 32 bytes (see newAckToken)');
  if (options.replaces !== undefined && options.ackToken === undefined) throw new RangeError('only a version 2 envelope (with an ack token) names the key it replaces');
  const version = options.ackToken === undefined ? SEALED_KEY_VERSION : SEALED_KEY_ACK_VERSION;
  const payload = options.ackToken === undefined ? key : JSON.stringify({ key, ackToken: options.ackToken, replaces: options.replaces });
  const ephemeral = generateKeyPairSync('x25519');
  const epk = x25519PublicKeyToBase64(ephemeral.publicKey);
  const aesKey = deriveKey(diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient }), epk, x25519PublicKeyToBase64(recipient), keyId, version);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', aesKey, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(keyId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(payload, 'utf8'), cipher.final()]);
  return {
    v: version,
    alg: SEALED_KEY_ALGORITHM,
    keyId,
    epk,
    nonce: nonce.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

/**
 * Opens an envelope made by `sealKey` with the recipient's X25519 private key. Throws
 * `SealedKeyError`: MALFORMED_ENVELOPE or UNSUPPORTED_ENVELOPE_VERSION for an envelope it
 * cannot read, SEALED_KEY_OPEN_FAILED when any field was changed or the key is not the
 * recipient's. Never returns a partly authenticated result.
 */
export function openSealedKey(envelope: unknown, privateKey: string | KeyObject): OpenedKey {
  const version = typeof envelope === 'object' && envelope !== null ? (envelope as { v?: unknown }).v : undefined;
  if (version !== undefined && !(SEALED_KEY_VERSIONS as readonly unknown[]).includes(version))
    throw new SealedKeyError('UNSUPPORTED_ENVELOPE_VERSION', `unsupported sealed key envelope version ${JSON.stringify(version)}`);
  const parsed = sealedKeyEnvelopeSchema.safeParse(envelope);
  if (!parsed.success) throw new SealedKeyError('MALFORMED_ENVELOPE', 'not a sealed key envelope');
  const sealed = parsed.data;
  const recipientPrivate = parseX25519PrivateKey(privateKey);
  let payload: string;
  try {
    const sharedSecret = diffieHellman({ privateKey: recipientPrivate, publicKey: parseX25519PublicKey(sealed.epk) });
    const aesKey = deriveKey(sharedSecret, sealed.epk, x25519PublicKeyToBase64(recipientPrivate), sealed.keyId, sealed.v);
    const decipher = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(sealed.nonce, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(sealed.keyId, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    payload = Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch (error) {
    // One outcome for every cause (bad tag, a low-order ephemeral key, another recipient):
    // telling them apart would help only someone probing the envelope.
    throw new SealedKeyError('SEALED_KEY_OPEN_FAILED', 'the sealed key could not be opened: changed in transit or sealed to another key', { cause: error });
  }
  if (sealed.v === SEALED_KEY_VERSION) return { keyId: sealed.keyId, key: payload };
  // Authenticated, so only a faulty sender gets here.
  let opened: ReturnType<typeof ackPayloadSchema.safeParse>;
  try {
    opened = ackPayloadSchema.safeParse(JSON.parse(payload));
  } catch {
    throw new SealedKeyError('MALFORMED_ENVELOPE', 'the sealed payload is not a key and an ack token');
  }
  if (!opened.success) throw new SealedKeyError('MALFORMED_ENVELOPE', 'the sealed payload is not a key and an ack token');
  const { key, ackToken, replaces } = opened.data;
  return replaces === undefined ? { keyId: sealed.keyId, key, ackToken } : { keyId: sealed.keyId, key, ackToken, replaces };
}
