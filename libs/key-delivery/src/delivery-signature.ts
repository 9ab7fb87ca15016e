import { sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import type { VersionedSecret } from '@keyledger/key-secrets';
import { ED25519_RAW_KEY_BYTES, ed25519PrivateKeyOfSeed, ed25519PublicKeyOfRaw, ed25519RawPublicKey } from '@keyledger/key-secrets';
import type { OpenedKey, SealedKeyEnvelope } from './sealed-key.js';
import { openSealedKey, sealedKeyEnvelopeSchema } from './sealed-key.js';

/** The version of the signed delivery document (its `delivery` field). */
export const SIGNED_DELIVERY_VERSION = 1;
/** The only signature algorithm a delivery carries. */
export const DELIVERY_SIGNATURE_ALGORITHM = 'Ed25519';
/** Named in the signed content, so a delivery signature never passes for another signed thing. */
const PURPOSE = 'keyledger key delivery v1';

const RAW_LENGTH = ED25519_RAW_KEY_BYTES;
const SIGNATURE_BYTES = 64;
/** Key ids are the versions of `KEYLEDGER_DELIVERY_SIGNING_KEYS`: `parseVersionedSecrets` reads up to 6 digits. */
const MAX_KEY_ID = 999_999;

/** What a delivery's receiver believes once the signature holds: everything it acts on. */
export interface DeliveryFields {
  readonly tenant: string;
  readonly owner: string;
  /** When the delivery was made (the rotation that issued the key), ISO 8601. The same at every send. */
  readonly issuedAt: string;
  /** The key sealed to the owner; its sealed payload (key, ack token, replaced key id) is covered through the ciphertext and tag. */
  readonly envelope: SealedKeyEnvelope;
}

/** A delivery as published on NATS and POSTed to webhooks: the fields and the sender's signature over them. */
export interface SignedDelivery extends DeliveryFields {
  readonly delivery: typeof SIGNED_DELIVERY_VERSION;
  readonly signature: {
    readonly alg: typeof DELIVERY_SIGNATURE_ALGORITHM;
    /** The version of the signing key (`KEYLEDGER_DELIVERY_SIGNING_KEYS`). */
    readonly kid: number;
    /** Ed25519 signature, 64 bytes, standard base64. */
    readonly value: string;
  };
}

/** A public key deliveries are checked with, and its version. */
export interface DeliveryPublicKey {
  readonly kid: number;
  readonly publicKey: KeyObject;
}

/**
 * Why a delivery was refused before anything in it was opened or believed:
 * - UNSIGNED: no signature (a bare envelope, as anyone who knows the owner's public key can make);
 * - MALFORMED: not a signed delivery (not JSON, unknown fields, wrong lengths);
 * - UNKNOWN_SIGNING_KEY: signed with a key id the receiver was not given;
 * - BAD_SIGNATURE: the signature does not hold over what the delivery says;
 * - WRONG_RECIPIENT: a genuine delivery, but to another tenant or owner than the receiver.
 */
export const DELIVERY_REFUSAL_REASONS = ['UNSIGNED', 'MALFORMED', 'UNKNOWN_SIGNING_KEY', 'BAD_SIGNATURE', 'WRONG_RECIPIENT'] as const;
export type DeliveryRefusalReason = (typeof DELIVERY_REFUSAL_REASONS)[number];

/** A delivery signing or public key that does not parse; the message names the entry, never a private key. */
export class DeliveryKeyError extends Error {
  override readonly name = 'DeliveryKeyError';
}

/** Names in a signed delivery are the tenant and owner names the API accepts; bounded so a stranger's document stays small. */
const name = z.string().min(1).max(200);

const signedDeliverySchema = z.strictObject({
  delivery: z.literal(SIGNED_DELIVERY_VERSION),
  tenant: name,
  owner: name,
  issuedAt: z.iso.datetime(),
  envelope: sealedKeyEnvelopeSchema,
  signature: z.strictObject({
    alg: z.literal(DELIVERY_SIGNATURE_ALGORITHM),
    kid: z.number().int().min(0).max(MAX_KEY_ID),
    value: z.string().refine((text) => {
      const bytes = Buffer.from(text, 'base64');
      return bytes.length === SIGNATURE_BYTES && bytes.toString('base64') === text;
    }),
  }),
});

// RFC 8785 canonical JSON of named fields only, as the event MACs do: whatever else an object
// carries is neither signed nor believed, and the key id is signed so it cannot be relabelled.
function signedContent(fields: DeliveryFields, kid: number): Buffer {
  const { v, alg, keyId, epk, nonce, ciphertext, tag } = fields.envelope;
  const text = canonicalize({
    purpose: PURPOSE,
    kid,
    tenant: fields.tenant,
    owner: fields.owner,
    issuedAt: fields.issuedAt,
    envelope: { v, alg, keyId, epk, nonce, ciphertext, tag },
  });
  if (text === undefined) throw new TypeError('a delivery cannot be serialised canonically');
  return Buffer.from(text, 'utf8');
}

/** The raw 32 bytes of an Ed25519 public key, base64 (RFC 8032's encoding; a JWK's `x` is the same bytes in base64url). */
function rawPublicKey(key: KeyObject): string {
  return ed25519RawPublicKey(key).toString('base64');
}

/**
 * Parses the public keys a receiver checks deliveries with: comma-separated `<version>:<base64
 * of the raw 32-byte Ed25519 public key>`, as `keyledger deliveries public-key` prints them.
 * Throws `DeliveryKeyError` for anything else.
 */
export function parseDeliveryPublicKeys(text: string): DeliveryPublicKey[] {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new DeliveryKeyError('no delivery public key given');
  const keys = entries.map((entry, index) => {
    const match = /^(\d{1,6}):([A-Za-z0-9+/]{43}=)$/.exec(entry);
    const raw = match && Buffer.from(match[2]!, 'base64');
    if (!match || raw?.length !== RAW_LENGTH) throw new DeliveryKeyError(`delivery public key #${index + 1} is not <version>:<base64 of 32 bytes>`);
    return { kid: Number(match[1]), publicKey: ed25519PublicKeyOfRaw(raw) };
  });
  if (new Set(keys.map((key) => key.kid)).size !== keys.length) throw new DeliveryKeyError('delivery public key versions must be distinct');
  return keys;
}

/**
 * Signs deliveries with Ed25519 under `KEYLEDGER_DELIVERY_SIGNING_KEYS` (the first, current
 * version), so a receiver holding the public keys knows a delivery comes from Keyledger and was
 * meant for it: knowing an owner's public key (it is public) is enough to seal a key to it, not
 * to sign. Previous versions are kept only to print their public keys while receivers move on.
 */
export class DeliverySigner {
  private readonly current: { readonly kid: number; readonly key: KeyObject };
  private readonly all: readonly { readonly kid: number; readonly key: KeyObject }[];

  constructor(keys: readonly VersionedSecret[]) {
    if (keys.length === 0) throw new DeliveryKeyError('at least one delivery signing key is required');
    this.all = keys.map((key) => {
      if (key.secret.length !== RAW_LENGTH) throw new DeliveryKeyError(`delivery signing key version ${key.version} is not 32 bytes (an Ed25519 seed)`);
      if (!Number.isInteger(key.version) || key.version < 0 || key.version > MAX_KEY_ID)
        throw new DeliveryKeyError(`delivery signing key versions are 0..${MAX_KEY_ID}`);
      return { kid: key.version, key: ed25519PrivateKeyOfSeed(key.secret) };
    });
    this.current = this.all[0]!;
  }

  /** The delivery with its signature. */
  sign(fields: DeliveryFields): SignedDelivery {
    const { kid, key } = this.current;
    const value = sign(null, signedContent(fields, kid), key).toString('base64');
    return {
      delivery: SIGNED_DELIVERY_VERSION,
      tenant: fields.tenant,
      owner: fields.owner,
      issuedAt: fields.issuedAt,
      envelope: fields.envelope,
      signature: { alg: DELIVERY_SIGNATURE_ALGORITHM, kid, value },
    };
  }

  /** What every send carries: the signed delivery as JSON text. */
  body(fields: DeliveryFields): string {
    return JSON.stringify(this.sign(fields));
  }

  /** Every version's public key, current first, in the form receivers are given (`parseDeliveryPublicKeys`). */
  publicKeys(): string {
    return this.all.map(({ kid, key }) => `${kid}:${rawPublicKey(key)}`).join(',');
  }
}

/** What a receiver expects: who it is, and the public keys it trusts. */
export interface DeliveryReceiver {
  readonly tenant: string;
  readonly owner: string;
  readonly publicKeys: readonly DeliveryPublicKey[];
}

export type DeliveryCheck = { readonly ok: true; readonly delivery: SignedDelivery } | { readonly ok: false; readonly reason: DeliveryRefusalReason };

/**
 * Checks a delivery as received (its raw bytes) without opening it: a signed delivery, by a key
 * the receiver trusts, over exactly these fields, for this receiver. Returns the verdict as a
 * value; nothing in a refused delivery is to be believed.
 */
export function checkSignedDelivery(body: string | Uint8Array, receiver: DeliveryReceiver): DeliveryCheck {
  let document: unknown;
  try {
    document = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch {
    return { ok: false, reason: 'MALFORMED' };
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return { ok: false, reason: 'MALFORMED' };
  if (!('signature' in document)) return { ok: false, reason: 'UNSIGNED' };
  const parsed = signedDeliverySchema.safeParse(document);
  if (!parsed.success) return { ok: false, reason: 'MALFORMED' };
  const delivery = parsed.data as SignedDelivery;
  const trusted = receiver.publicKeys.find((key) => key.kid === delivery.signature.kid);
  if (!trusted) return { ok: false, reason: 'UNKNOWN_SIGNING_KEY' };
  if (!verify(null, signedContent(delivery, delivery.signature.kid), trusted.publicKey, Buffer.from(delivery.signature.value, 'base64')))
    return { ok: false, reason: 'BAD_SIGNATURE' };
  // Checked after the signature, so only a genuine delivery is called misdirected.
  if (delivery.tenant !== receiver.tenant || delivery.owner !== receiver.owner) return { ok: false, reason: 'WRONG_RECIPIENT' };
  return { ok: true, delivery };
}

export type DeliveryOpening =
  { readonly ok: true; readonly opened: OpenedKey; readonly issuedAt: string } | { readonly ok: false; readonly reason: DeliveryRefusalReason };

/**
 * The one way a receiver reads a delivery (LiveKey on NATS, a webhook receiver over HTTPS):
 * checks it (`checkSignedDelivery`) and only then opens the envelope with the owner's X25519
 * private key. A refusal is a value; an envelope that is genuine but does not open (sealed to
 * another of the owner's keys) throws `SealedKeyError` as `openSealedKey` does.
 */
export function openDelivery(body: string | Uint8Array, receiver: DeliveryReceiver & { readonly privateKey: string | KeyObject }): DeliveryOpening {
  const check = checkSignedDelivery(body, receiver);
  if (!check.ok) return check;
  return { ok: true, opened: openSealedKey(check.delivery.envelope, receiver.privateKey), issuedAt: check.delivery.issuedAt };
}
