import CRC32 from 'crc-32';

/**
 * Key format: `<prefix>_<env>_<body><checksum>`, e.g. `kl_live_3f9K…Qz01aBcD`.
 *
 * - prefix: 2–16 lowercase letters and digits, default `kl` (configurable per tenant);
 * - env: `live` or `test`;
 * - body: 32 base62 characters from a CSPRNG (190 bits);
 * - checksum: CRC32 of everything before it, as 6 base62 digits.
 *
 * The checksum lets verifiers reject typos without a lookup and lets secret scanners find
 * leaked keys with almost no false positives. CRC32 catches every single-character change
 * and every swap of two adjacent characters.
 */
export const KEY_ENVIRONMENTS = ['live', 'test'] as const;
export type KeyEnvironment = (typeof KEY_ENVIRONMENTS)[number];

export const DEFAULT_KEY_PREFIX = 'kl';
export const KEY_BODY_LENGTH = 32;
export const KEY_CHECKSUM_LENGTH = 6;
/** Longest string ever parsed; anything longer is MALFORMED without further work. */
export const MAX_KEY_LENGTH = 16 + 1 + 4 + 1 + 64 + KEY_CHECKSUM_LENGTH;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PREFIX = /^[a-z][a-z0-9]{1,15}$/;

export interface ParsedKey {
  readonly prefix: string;
  readonly environment: KeyEnvironment;
  readonly body: string;
}

export function isValidKeyPrefix(prefix: string): boolean {
  return PREFIX.test(prefix);
}

/** CRC32 (unsigned) of the text, as 6 base62 digits. */
export function keyChecksum(text: string): string {
  let value = CRC32.str(text) >>> 0;
  let digits = '';
  for (let i = 0; i < KEY_CHECKSUM_LENGTH; i += 1) {
    digits = BASE62[value % 62]! + digits;
    value = Math.floor(value / 62);
  }
  return digits;
}

const WELL_FORMED = /^[a-z][a-z0-9]{1,15}_(?:live|test)_[0-9A-Za-z]{38,70}$/;

/**
 * Whether a presented key is well formed with a correct checksum: what parseKey checks,
 * without building its parts. The verify path calls it on every request.
 */
export function isWellFormedKey(candidate: unknown): boolean {
  if (typeof candidate !== 'string' || candidate.length > MAX_KEY_LENGTH || !WELL_FORMED.test(candidate)) return false;
  let value = CRC32.str(candidate.slice(0, candidate.length - KEY_CHECKSUM_LENGTH)) >>> 0;
  for (let i = candidate.length - 1; i >= candidate.length - KEY_CHECKSUM_LENGTH; i -= 1) {
    if (candidate.charCodeAt(i) !== BASE62.charCodeAt(value % 62)) return false;
    value = Math.floor(value / 62);
  }
  return true;
}

/**
 * Parses and checks a presented key. Returns undefined for anything that is not a
 * well-formed key with a correct checksum: no exception for any input, of any size.
 */
export function parseKey(candidate: unknown): ParsedKey | undefined {
  if (!isWellFormedKey(candidate)) return undefined;
  const key = candidate as string;
  const prefixEnd = key.indexOf('_');
  return {
    prefix: key.slice(0, prefixEnd),
    environment: key.slice(prefixEnd + 1, prefixEnd + 5) as KeyEnvironment,
    body: key.slice(prefixEnd + 6, key.length - KEY_CHECKSUM_LENGTH),
  };
}

/**
 * Builds a key from random bytes. `randomBytes(n)` must be a CSPRNG (crypto.randomBytes);
 * bytes are mapped to base62 by rejection sampling so every character is uniform.
 */
export function formatNewKey(prefix: string, environment: KeyEnvironment, randomBytes: (size: number) => Uint8Array): string {
  if (!isValidKeyPrefix(prefix)) throw new RangeError(`invalid key prefix ${JSON.stringify(prefix)}`);
  let body = '';
  while (body.length < KEY_BODY_LENGTH) {
    for (const byte of randomBytes(KEY_BODY_LENGTH * 2)) {
      // 248 = 62 * 4: bytes at or above it would bias the first characters.
      if (byte < 248 && body.length < KEY_BODY_LENGTH) body += BASE62[byte % 62];
    }
  }
  const unchecked = `${prefix}_${environment}_${body}`;
  return unchecked + keyChecksum(unchecked);
}

/** What people may see of a key: its prefix, environment and last four characters. */
export function keyHint(key: string): string {
  const parsed = parseKey(key);
  if (!parsed) throw new RangeError('cannot make a hint for a malformed key');
  return `${parsed.prefix}_${parsed.environment}_…${key.slice(-4)}`;
}
