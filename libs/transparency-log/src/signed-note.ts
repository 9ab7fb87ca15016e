import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ED25519_RAW_KEY_BYTES, ed25519PrivateKeyOfSeed, ed25519PublicKeyOfRaw, ed25519RawPublicKey } from '@keyledger/key-secrets';
import { NoteError } from './transparency-log.errors.js';

/**
 * C2SP signed notes (c2sp.org/signed-note): a text ending in a newline, a blank line, then one
 * `— <key name> base64(key id || signature)` line per signature. Ed25519 note signatures (type
 * 0x01) and Ed25519 timestamped cosignatures (c2sp.org/tlog-cosignature, type 0x04), which is
 * what witnesses add to a checkpoint.
 */

/** The signature types this implementation knows (c2sp.org/signed-note, "Signature types"). */
export const NOTE_SIGNATURE_TYPES = { ed25519: 0x01, cosignatureV1: 0x04 } as const;
export type NoteSignatureType = (typeof NOTE_SIGNATURE_TYPES)[keyof typeof NOTE_SIGNATURE_TYPES];

const SIGNATURE_PREFIX = '— ';
const ED25519_SIGNATURE_BYTES = 64;
/** The spec asks verifiers to accept at least 16 signatures; more than this is refused unread. */
const MAX_SIGNATURES = 100;

/** Key names: non-empty, no Unicode space, no `+`. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !name.includes('+');
}

/** SHA-256(name || 0x0A || type || public key)[:4], as a big-endian uint32. */
export function noteKeyId(name: string, type: NoteSignatureType, publicKey: Uint8Array): number {
  return createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, type])).update(publicKey).digest().readUInt32BE(0);
}

const hex8 = (id: number): string => id.toString(16).padStart(8, '0');

/** A public key a note is checked with: a log's (type 0x01) or a witness's (0x04). */
export interface NoteVerifierKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: NoteSignatureType;
  readonly publicKey: Buffer;
}

/** `<name>+<hex key id>+<base64(type || public key)>`, the vkey text form. */
export function formatVerifierKey(key: NoteVerifierKey): string {
  return `${key.name}+${hex8(key.keyId)}+${Buffer.concat([Buffer.from([key.type]), key.publicKey]).toString('base64')}`;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(text: string): Buffer | undefined {
  return BASE64.test(text) && text.length % 4 === 0 ? Buffer.from(text, 'base64') : undefined;
}

/** Parses a vkey; throws NoteError (`MALFORMED_KEY`) naming what is wrong, for a key id that does not match its key too. */
export function parseVerifierKey(text: string): NoteVerifierKey {
  const parts = text.trim().split('+');
  // The base64 part may itself contain '+': rejoin everything after the id.
  const [name, id, ...rest] = parts;
  const material = rest.length > 0 ? decodeBase64(rest.join('+')) : undefined;
  if (name === undefined || !isValidKeyName(name) || id === undefined || !/^[0-9a-f]{8}$/.test(id) || !material || material.length < 1)
    throw new NoteError('MALFORMED_KEY', `${JSON.stringify(text)} is not a note verifier key (<name>+<8 hex digits>+<base64 of type and public key>)`);
  const type = material[0];
  if (type !== NOTE_SIGNATURE_TYPES.ed25519 && type !== NOTE_SIGNATURE_TYPES.cosignatureV1)
    throw new NoteError('MALFORMED_KEY', `verifier key ${name} has signature type 0x${(type ?? 0).toString(16)}; only Ed25519 (0x01) and Ed25519 cosignatures (0x04) are supported`);
  const publicKey = material.subarray(1);
  if (publicKey.length !== ED25519_RAW_KEY_BYTES) throw new NoteError('MALFORMED_KEY', `verifier key ${name} is not 32 bytes of Ed25519 public key`);
  const keyId = noteKeyId(name, type, publicKey);
  if (hex8(keyId) !== id) throw new NoteError('MALFORMED_KEY', `verifier key ${name}: key id ${id} does not match its public key (${hex8(keyId)})`);
  return { name, keyId, type, publicKey: Buffer.from(publicKey) };
}

const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';

/**
 * Signs notes with Ed25519 (type 0x01) under a key name. Its private key text is the one of
 * golang.org/x/mod/sumdb/note: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`.
 */
export class NoteSigner {
  readonly keyId: number;
  private readonly publicKey: Buffer;

  private constructor(
    readonly name: string,
    private readonly key: KeyObject,
  ) {
    this.publicKey = ed25519RawPublicKey(key);
    this.keyId = noteKeyId(name, NOTE_SIGNATURE_TYPES.ed25519, this.publicKey);
  }

  /** Parses a signer key; throws NoteError (`MALFORMED_KEY`), whose message never holds the key. */
  static fromPrivateKey(text: string): NoteSigner {
    const trimmed = text.trim();
    const fail = (why: string): never => {
      throw new NoteError('MALFORMED_KEY', `the note signing key is not PRIVATE+KEY+<name>+<8 hex digits>+<base64 of 0x01 and a 32-byte Ed25519 seed>: ${why}`);
    };
    if (!trimmed.startsWith(PRIVATE_KEY_PREFIX)) fail('it does not start with PRIVATE+KEY+');
    const [name, id, ...rest] = trimmed.slice(PRIVATE_KEY_PREFIX.length).split('+');
    if (name === undefined || !isValidKeyName(name)) fail('the key name is missing or holds a space or +');
    if (id === undefined || !/^[0-9a-f]{8}$/.test(id)) fail('the key id is not 8 hex digits');
    const material = decodeBase64(rest.join('+'));
    if (material?.length !== 1 + ED25519_RAW_KEY_BYTES || material[0] !== NOTE_SIGNATURE_TYPES.ed25519) fail('the key is not 0x01 and 32 bytes');
    const signer = new NoteSigner(name!, ed25519PrivateKeyOfSeed(material!.subarray(1)));
    if (hex8(signer.keyId) !== id) fail('the key id does not match the key');
    return signer;
  }

  /** A new key under `name`, as its private key text (a secret) and its verifier key (public). */
  static generate(name: string): { privateKey: string; verifierKey: string } {
    if (!isValidKeyName(name)) throw new NoteError('MALFORMED_KEY', `${JSON.stringify(name)} is not a key name (non-empty, no space, no +)`);
    const { privateKey } = generateKeyPairSync('ed25519');
    // The seed is the last 32 bytes of the PKCS#8 DER.
    const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-ED25519_RAW_KEY_BYTES);
    const signer = new NoteSigner(name, privateKey);
    return {
      privateKey: `${PRIVATE_KEY_PREFIX}${name}+${hex8(signer.keyId)}+${Buffer.concat([Buffer.from([NOTE_SIGNATURE_TYPES.ed25519]), seed]).toString('base64')}`,
      verifierKey: signer.verifierKey(),
    };
  }

  /** The public verifier key (vkey) anyone checks this signer's notes with. */
  verifierKey(): string {
    return formatVerifierKey({ name: this.name, keyId: this.keyId, type: NOTE_SIGNATURE_TYPES.ed25519, publicKey: this.publicKey });
  }

  /** This key as a witness's (c2sp.org/tlog-cosignature v1, type 0x04): the verifier key its cosignatures are checked with. */
  cosignerVerifierKey(): string {
    const type = NOTE_SIGNATURE_TYPES.cosignatureV1;
    return formatVerifierKey({ name: this.name, keyId: noteKeyId(this.name, type, this.publicKey), type, publicKey: this.publicKey });
  }

  /** This key's cosignature line (type 0x04) over a checkpoint's text at `timestamp` (POSIX seconds). */
  cosign(text: string, timestamp: bigint): string {
    checkNoteText(text);
    return cosignatureLineWith(this.key, this.name, text, timestamp);
  }

  /** The note: `text` (one or more lines, each ending in a newline) and this signer's signature line. */
  sign(text: string): string {
    checkNoteText(text);
    const signature = sign(null, Buffer.from(text, 'utf8'), this.key);
    return `${text}\n${signatureLine(this.name, this.keyId, signature)}`;
  }
}

function signatureLine(name: string, keyId: number, signature: Buffer): string {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(keyId);
  return `${SIGNATURE_PREFIX}${name} ${Buffer.concat([id, signature]).toString('base64')}\n`;
}

/** What c2sp.org/tlog-cosignature v1 signs: a header, the time, then the note text. */
function cosignedMessage(text: string, timestamp: bigint): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${text}`, 'utf8');
}

/**
 * A witness's Ed25519 cosignature line (c2sp.org/tlog-cosignature v1, type 0x04) over a note's
 * text at `timestamp` (POSIX seconds), from its 32-byte seed. For tests and for running a
 * witness beside Keyledger; a witness usually runs its own software.
 */
export function cosignatureLine(text: string, name: string, seed: Uint8Array, timestamp: bigint): string {
  return cosignatureLineWith(ed25519PrivateKeyOfSeed(seed), name, text, timestamp);
}

function cosignatureLineWith(key: KeyObject, name: string, text: string, timestamp: bigint): string {
  const keyId = noteKeyId(name, NOTE_SIGNATURE_TYPES.cosignatureV1, ed25519RawPublicKey(key));
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(timestamp);
  return signatureLine(name, keyId, Buffer.concat([time, sign(null, cosignedMessage(text, timestamp), key)]));
}

// Valid UTF-8 (a TS string is) and no control characters but newline.
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;

function checkNoteText(text: string): void {
  if (text.length === 0 || !text.endsWith('\n') || CONTROL.test(text) || text.includes('\n\n') || text.startsWith('\n'))
    throw new NoteError('MALFORMED_NOTE', 'a note text is one or more non-empty lines, each ending in a newline, without control characters');
}

/** A signature a note carries. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** For a cosignature (type 0x04): the time the witness signed, POSIX seconds. */
  readonly timestamp?: bigint;
}

/** An opened note: its text and which known keys signed it (the rest are listed, not believed). */
export interface OpenedNote {
  readonly text: string;
  readonly verified: readonly NoteSignature[];
  readonly unverified: readonly { readonly name: string; readonly keyId: number }[];
}

/** The text and signature lines of a note, without checking any signature; throws NoteError (`MALFORMED_NOTE`). */
export function splitNote(note: string): { text: string; signatures: { name: string; keyId: number; signature: Buffer; line: string }[] } {
  const malformed = (why: string): never => {
    throw new NoteError('MALFORMED_NOTE', `not a signed note: ${why}`);
  };
  if (CONTROL.test(note)) malformed('it holds a control character');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) malformed('no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) malformed('no signature line, or the last does not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) malformed(`more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIGNATURE_PREFIX)) return malformed('a signature line does not start with an em dash and a space');
    const [name, b64, extra] = line.slice(SIGNATURE_PREFIX.length).split(' ');
    const bytes = b64 === undefined ? undefined : decodeBase64(b64);
    if (name === undefined || !isValidKeyName(name) || extra !== undefined || !bytes || bytes.length < 5) return malformed('a signature line is not "— <name> <base64>"');
    return { name, keyId: bytes.readUInt32BE(0), signature: bytes.subarray(4), line };
  });
  return { text, signatures };
}

/**
 * Opens a note with the keys trusted: every signature by a known key (same name and key id)
 * must verify, at least one must, and signatures by unknown keys are ignored (listed). Throws
 * NoteError: `MALFORMED_NOTE`, `BAD_SIGNATURE` (a known key's signature does not verify), or
 * `NO_KNOWN_SIGNATURE`.
 */
export function openNote(note: string, keys: readonly NoteVerifierKey[]): OpenedNote {
  const { text, signatures } = splitNote(note);
  const verified: NoteSignature[] = [];
  const unverified: { name: string; keyId: number }[] = [];
  const seen = new Set<string>();
  for (const { name, keyId, signature, line } of signatures) {
    const key = keys.find((candidate) => candidate.name === name && candidate.keyId === keyId);
    if (!key) {
      if (!seen.has(line)) unverified.push({ name, keyId });
      seen.add(line);
      continue;
    }
    const id = `${name}+${hex8(keyId)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const publicKey = ed25519PublicKeyOfRaw(key.publicKey);
    if (key.type === NOTE_SIGNATURE_TYPES.ed25519) {
      if (signature.length !== ED25519_SIGNATURE_BYTES || !verify(null, Buffer.from(text, 'utf8'), publicKey, signature))
        throw new NoteError('BAD_SIGNATURE', `the signature of ${id} does not verify`);
      verified.push({ name, keyId });
    } else {
      if (signature.length !== 8 + ED25519_SIGNATURE_BYTES) throw new NoteError('BAD_SIGNATURE', `the cosignature of ${id} is not a timestamp and an Ed25519 signature`);
      const timestamp = signature.readBigUInt64BE(0);
      if (timestamp >= 2n ** 63n || !verify(null, cosignedMessage(text, timestamp), publicKey, signature.subarray(8)))
        throw new NoteError('BAD_SIGNATURE', `the cosignature of ${id} does not verify`);
      verified.push({ name, keyId, timestamp });
    }
  }
  if (verified.length === 0) throw new NoteError('NO_KNOWN_SIGNATURE', `the note is signed by no trusted key (it names ${signatures.map((s) => s.name).join(', ')})`);
  return { text, verified, unverified };
}
