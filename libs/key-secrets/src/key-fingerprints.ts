import { hkdfSync } from 'node:crypto';
import type { Pepper } from './peppers.js';

const INFO = 'keyledger usage fingerprint v1';
/** Longest prefix of a presented string that is fingerprinted (a key is at most 92 characters). */
export const FINGERPRINT_INPUT_CHARS = 256;

/**
 * SipHash-2-4 (Aumasson and Bernstein), a keyed pseudo-random function made for short
 * inputs, over 32-bit halves. `state` holds v0..v3 as [high, low] pairs.
 */
class SipHash24 {
  private readonly state = new Uint32Array(8);
  private readonly k: Uint32Array;

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError('SipHash needs a 16-byte key');
    const word = (i: number): number => (key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24)) >>> 0;
    // k0 = bytes 0..7, k1 = bytes 8..15, little-endian; as [high, low].
    this.k = Uint32Array.of(word(4), word(0), word(12), word(8));
  }

  /** The 64-bit tag of `bytes[0..length)`, as 16 hex digits of its little-endian bytes. */
  hex(bytes: Uint8Array, length: number): string {
    const s = this.state;
    const k = this.k;
    s[0] = k[0]! ^ 0x736f6d65;
    s[1] = k[1]! ^ 0x70736575;
    s[2] = k[2]! ^ 0x646f7261;
    s[3] = k[3]! ^ 0x6e646f6d;
    s[4] = k[0]! ^ 0x6c796765;
    s[5] = k[1]! ^ 0x6e657261;
    s[6] = k[2]! ^ 0x74656462;
    s[7] = k[3]! ^ 0x79746573;
    const end = length - (length % 8);
    for (let i = 0; i < end; i += 8) {
      this.absorb(
        (bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24)) >>> 0,
        (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0,
      );
    }
    // The last block: the remaining bytes, and the length (mod 256) in the top byte.
    let high = (length & 0xff) << 24;
    let low = 0;
    for (let i = end; i < length; i += 1) {
      const shift = (i - end) * 8;
      if (shift < 32) low |= bytes[i]! << shift;
      else high |= bytes[i]! << (shift - 32);
    }
    this.absorb(high >>> 0, low >>> 0);
    s[5] = (s[5] ^ 0xff) >>> 0;
    this.round();
    this.round();
    this.round();
    this.round();
    const h = (s[0] ^ s[2] ^ s[4] ^ s[6]) >>> 0;
    const l = (s[1] ^ s[3] ^ s[5] ^ s[7]) >>> 0;
    return leHex(l) + leHex(h);
  }

  private absorb(high: number, low: number): void {
    const s = this.state;
    s[6] = s[6]! ^ high;
    s[7] = s[7]! ^ low;
    this.round();
    this.round();
    s[0] = s[0]! ^ high;
    s[1] = s[1]! ^ low;
  }

  private round(): void {
    const s = this.state;
    let v0h = s[0]!,
      v0l = s[1]!,
      v1h = s[2]!,
      v1l = s[3]!,
      v2h = s[4]!,
      v2l = s[5]!,
      v3h = s[6]!,
      v3l = s[7]!;
    let t: number;
    // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
    t = v0l + v1l;
    v0h = (v0h + v1h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = t >>> 0;
    t = v1h;
    v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
    v1l = ((v1l << 13) | (t >>> 19)) >>> 0;
    v1h ^= v0h;
    v1l ^= v0l;
    t = v0h;
    v0h = v0l;
    v0l = t;
    // v2 += v3; v3 <<<= 16; v3 ^= v2
    t = v2l + v3l;
    v2h = (v2h + v3h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = t >>> 0;
    t = v3h;
    v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
    v3l = ((v3l << 16) | (t >>> 16)) >>> 0;
    v3h ^= v2h;
    v3l ^= v2l;
    // v0 += v3; v3 <<<= 21; v3 ^= v0
    t = v0l + (v3l >>> 0);
    v0h = (v0h + (v3h >>> 0) + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = t >>> 0;
    t = v3h;
    v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
    v3l = ((v3l << 21) | (t >>> 11)) >>> 0;
    v3h ^= v0h;
    v3l ^= v0l;
    // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
    t = v2l + (v1l >>> 0);
    v2h = (v2h + (v1h >>> 0) + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = t >>> 0;
    t = v1h;
    v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
    v1l = ((v1l << 17) | (t >>> 15)) >>> 0;
    v1h ^= v2h;
    v1l ^= v2l;
    t = v2h;
    v2h = v2l;
    v2l = t;
    s[0] = v0h;
    s[1] = v0l;
    s[2] = v1h;
    s[3] = v1l;
    s[4] = v2h;
    s[5] = v2l;
    s[6] = v3h;
    s[7] = v3l;
  }
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** The four bytes of a 32-bit word, least significant first, as hex. */
function leHex(word: number): string {
  return HEX[word & 0xff]! + HEX[(word >>> 8) & 0xff]! + HEX[(word >>> 16) & 0xff]! + HEX[word >>> 24]!;
}

/**
 * Fingerprints of presented strings that name no key (unknown or malformed), for usage
 * records: the same string gives the same fingerprint on every replica, so an operator can
 * see one bad key tried a thousand times, yet the record never holds the string.
 *
 * Why SipHash-2-4 and not the key digest: verification does not hand back the HMAC it
 * computed (it lives in the key index's lookup), and a second HMAC-SHA256 per request would
 * double the hashing cost of exactly the requests an attacker can send in bulk. SipHash is a
 * keyed PRF built for short inputs and costs a fraction of that in plain JavaScript. Its key
 * is derived (HKDF) from the current pepper under its own label, so fingerprints cannot be
 * computed, or guesses confirmed, without the pepper, and they never equal a stored digest.
 * 64 bits cannot be reversed into a 190-bit key. A new current pepper changes every
 * fingerprint from then on.
 */
export class KeyFingerprints {
  private readonly sip: SipHash24;
  private readonly scratch = Buffer.alloc(FINGERPRINT_INPUT_CHARS * 3);

  constructor(peppers: readonly Pepper[]) {
    const current = peppers[0];
    if (!current) throw new RangeError('at least one pepper is required');
    this.sip = new SipHash24(new Uint8Array(hkdfSync('sha256', current.secret, Buffer.alloc(0), INFO, 16)));
  }

  /** A test seam: fingerprints under a given 16-byte SipHash key. */
  static withKey(key: Uint8Array): KeyFingerprints {
    const fingerprints = Object.create(KeyFingerprints.prototype) as { sip: SipHash24; scratch: Buffer };
    fingerprints.sip = new SipHash24(key);
    fingerprints.scratch = Buffer.alloc(FINGERPRINT_INPUT_CHARS * 3);
    return fingerprints as unknown as KeyFingerprints;
  }

  /**
   * 16 hex digits for a non-empty string (of its first 256 characters, as UTF-8);
   * undefined when nothing was presented.
   */
  of(presented: unknown): string | undefined {
    if (typeof presented !== 'string' || presented.length === 0) return undefined;
    const text = presented.length > FINGERPRINT_INPUT_CHARS ? presented.slice(0, FINGERPRINT_INPUT_CHARS) : presented;
    return this.sip.hex(this.scratch, this.scratch.write(text, 0, 'utf8'));
  }

  /** SipHash-2-4 of raw bytes, for the reference test vectors. */
  ofBytes(bytes: Uint8Array): string {
    return this.sip.hex(bytes, bytes.length);
  }
}
