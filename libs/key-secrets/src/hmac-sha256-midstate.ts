import { createHash } from 'node:crypto';

const BLOCK = 64;
const DIGEST_BYTES = 32;

// FIPS 180-4, section 4.2.2 and 5.3.3.
const ROUND_CONSTANTS = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74,
  0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d,
  0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e,
  0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
  0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL_STATE = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const UTF8 = new TextEncoder();

/** Message schedule, shared: compress() runs to completion and nothing else touches it. */
const schedule = new Int32Array(64);

/** The shared schedule, for the test that checks no secret stays in it. */
export function scheduleForTest(): Int32Array {
  return schedule;
}

/**
 * One SHA-256 compression of the block in schedule[0..15] on `from`, written to `to` (which
 * may be `from`). Every sum is truncated to 32 bits as it is made, so V8 keeps it in integer
 * registers. No branch or table index depends on the data (the round constants are indexed by
 * round), so once optimised its time does not either.
 */
function compress(from: Int32Array, to: Int32Array): void {
  const w = schedule;
  for (let i = 16; i < 64; i += 1) {
    const w15 = w[i - 15]!;
    const w2 = w[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    w[i] = (((s1 + w[i - 7]!) | 0) + ((s0 + w[i - 16]!) | 0)) | 0;
  }
  let a = from[0]!;
  let b = from[1]!;
  let c = from[2]!;
  let d = from[3]!;
  let e = from[4]!;
  let f = from[5]!;
  let g = from[6]!;
  let h = from[7]!;
  for (let i = 0; i < 64; i += 1) {
    const sum1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const choice = (e & f) ^ (~e & g);
    const t1 = (((((h + sum1) | 0) + choice) | 0) + ((ROUND_CONSTANTS[i]! + w[i]!) | 0)) | 0;
    const sum0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const majority = (a & b) ^ (a & c) ^ (b & c);
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + ((sum0 + majority) | 0)) | 0;
  }
  to[0] = (from[0]! + a) | 0;
  to[1] = (from[1]! + b) | 0;
  to[2] = (from[2]! + c) | 0;
  to[3] = (from[3]! + d) | 0;
  to[4] = (from[4]! + e) | 0;
  to[5] = (from[5]! + f) | 0;
  to[6] = (from[6]! + g) | 0;
  to[7] = (from[7]! + h) | 0;
}

/** Loads schedule[0..15] with the big-endian words of bytes[offset..offset+63]. */
function loadBlock(bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i += 1) {
    const at = offset + i * 4;
    schedule[i] = (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
  }
}

/** The state after hashing one 64-byte block from the initial state. */
function stateAfter(block: Uint8Array): Int32Array {
  const state = new Int32Array(8);
  loadBlock(block, 0);
  compress(INITIAL_STATE, state);
  return state;
}

/**
 * HMAC-SHA256 under one secret (RFC 2104), for the verify path.
 *
 * The hashes of the secret's inner and outer pad blocks are computed once (the midstates), so
 * a message of up to 55 bytes costs two SHA-256 compressions, and one of 56 to 119 bytes three:
 * a key with the default prefix has 46 bytes, one with a 16-character prefix 60. They run here
 * in JavaScript because node:crypto cannot start a hash from a saved state, and for inputs this
 * small the call into OpenSSL, not the hashing, is the cost: two one-shot `crypto.hash` calls
 * took 1.8–2.1 µs on the benchmark machine, this 0.8 µs for a 46-byte key and about 1.3 µs for
 * a 60-byte one. Tested against createHmac and the RFC 4231 vectors, for messages of every
 * length and encoding.
 */
export class MidstateHmacSha256 {
  private readonly innerMidstate: Int32Array;
  private readonly outerMidstate: Int32Array;
  private readonly state = new Int32Array(8);
  /** The padded message; a longer message gets a buffer of its own. */
  private readonly padded = new Uint8Array(4 * BLOCK);

  constructor(secret: Uint8Array) {
    const key = new Uint8Array(BLOCK);
    const shortened = secret.length > BLOCK ? createHash('sha256').update(secret).digest() : undefined;
    key.set(shortened ?? secret);
    const innerPad = key.map((byte) => byte ^ 0x36);
    const outerPad = key.map((byte) => byte ^ 0x5c);
    this.innerMidstate = stateAfter(innerPad);
    this.outerMidstate = stateAfter(outerPad);
    // Copies of the secret, the schedule holding the outer pad's words among them: cleared
    // rather than left to the collector or to the next digest.
    for (const copy of [key, innerPad, outerPad, shortened, schedule]) copy?.fill(0);
  }

  /** Writes HMAC(secret, UTF-8 of `message`) to out[0..31]. */
  digestInto(message: string, out: Uint8Array): void {
    let padded = this.padded;
    let length = message.length;
    if (!this.copyAscii(message)) {
      // A buffer of its own (Buffer.from would put the message in Node's shared pool), cleared below.
      const bytes = UTF8.encode(message);
      length = bytes.length;
      padded = new Uint8Array(blocksFor(length) * BLOCK);
      padded.set(bytes);
      bytes.fill(0);
    }
    const blocks = blocksFor(length);
    writeTrailer(padded, length, blocks * BLOCK);
    this.state.set(this.innerMidstate);
    for (let block = 0; block < blocks; block += 1) {
      loadBlock(padded, block * BLOCK);
      compress(this.state, this.state);
    }
    // The message is a key: it does not stay in either buffer.
    padded.fill(0, 0, length);
    // The outer message is the 32-byte inner hash: one block with its padding.
    for (let i = 0; i < 8; i += 1) schedule[i] = this.state[i]!;
    schedule[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i += 1) schedule[i] = 0;
    schedule[15] = (BLOCK + DIGEST_BYTES) * 8;
    compress(this.outerMidstate, this.state);
    for (let i = 0; i < 8; i += 1) {
      const word = this.state[i]!;
      out[i * 4] = word >>> 24;
      out[i * 4 + 1] = (word >>> 16) & 0xff;
      out[i * 4 + 2] = (word >>> 8) & 0xff;
      out[i * 4 + 3] = word & 0xff;
    }
  }

  /** Copies an ASCII message that fits, with room for its padding, into the reusable buffer (a key always does). */
  private copyAscii(message: string): boolean {
    if (blocksFor(message.length) * BLOCK > this.padded.length) return false;
    for (let i = 0; i < message.length; i += 1) {
      const code = message.charCodeAt(i);
      if (code > 0x7f) {
        this.padded.fill(0, 0, i);
        return false;
      }
      this.padded[i] = code;
    }
    return true;
  }
}

/** Blocks a message of `length` bytes takes with its padding (0x80 and 8 length bytes). */
function blocksFor(length: number): number {
  return Math.ceil((length + 9) / BLOCK);
}

/** 0x80, zeros, then the bit length of pad block and message, big-endian, ending at `end`. */
function writeTrailer(padded: Uint8Array, length: number, end: number): void {
  padded[length] = 0x80;
  padded.fill(0, length + 1, end - 8);
  const bits = (BLOCK + length) * 8;
  const high = Math.floor(bits / 0x100000000);
  for (let i = 0; i < 4; i += 1) {
    padded[end - 8 + i] = (high >>> (24 - i * 8)) & 0xff;
    padded[end - 4 + i] = (bits >>> (24 - i * 8)) & 0xff;
  }
}
