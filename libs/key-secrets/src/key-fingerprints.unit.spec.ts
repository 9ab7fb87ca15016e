import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { KeyFingerprints } from './key-fingerprints.js';
import { KeyHasher } from './key-hasher.js';

const pepper = (version: number) => ({ version, secret: randomBytes(32) });
const referenceKey = Uint8Array.from({ length: 16 }, (_, i) => i);
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

/** SipHash-2-4 straight from the paper, in BigInt: slow and obviously right. */
function referenceSipHash(key: Uint8Array, message: Uint8Array): string {
  const mask = (1n << 64n) - 1n;
  const le = (b: Uint8Array, at: number): bigint => {
    let value = 0n;
    for (let i = 7; i >= 0; i -= 1) value = (value << 8n) | BigInt(b[at + i] ?? 0);
    return value;
  };
  const rotl = (x: bigint, n: bigint): bigint => ((x << n) | (x >> (64n - n))) & mask;
  const [k0, k1] = [le(key, 0), le(key, 8)];
  let [v0, v1, v2, v3] = [k0 ^ 0x736f6d6570736575n, k1 ^ 0x646f72616e646f6dn, k0 ^ 0x6c7967656e657261n, k1 ^ 0x7465646279746573n];
  const round = (): void => {
    v0 = (v0 + v1) & mask;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & mask;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & mask;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & mask;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const padded = new Uint8Array(Math.floor(message.length / 8) * 8 + 8);
  padded.set(message);
  padded[padded.length - 1] = message.length & 0xff;
  for (let at = 0; at < padded.length; at += 8) {
    const m = le(padded, at);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i += 1) round();
  const tag = v0 ^ v1 ^ v2 ^ v3;
  return Array.from({ length: 8 }, (_, i) =>
    Number((tag >> BigInt(8 * i)) & 0xffn)
      .toString(16)
      .padStart(2, '0'),
  ).join('');
}

describe('key fingerprints', () => {
  it('are SipHash-2-4: the reference vectors', () => {
    const sip = KeyFingerprints.withKey(referenceKey);
    expect(sip.ofBytes(bytes(0))).toBe('310e0edd47db6f72');
    expect(sip.ofBytes(bytes(1))).toBe('fd67dc93c539f874');
    // The paper's worked example: 15 bytes 00..0e give 0xa129ca6149be45e5.
    expect(sip.ofBytes(bytes(15))).toBe('e545be4961ca29a1');
  });

  it('agree with a BigInt implementation of the paper on any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 80 }), (key, message) => {
        expect(KeyFingerprints.withKey(key).ofBytes(message)).toBe(referenceSipHash(key, message));
      }),
    );
  });

  it('are stable for a pepper, differ across peppers, and never equal the key digest', () => {
    const current = pepper(1);
    const key = new KeyHasher([current]).newKey('kl', 'live').plaintext;
    const fingerprint = new KeyFingerprints([current]).of(key)!;
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(new KeyFingerprints([current, pepper(0)]).of(key)).toBe(fingerprint);
    expect(new KeyFingerprints([pepper(2), current]).of(key)).not.toBe(fingerprint);
    expect(new KeyHasher([current]).digestUnder(key, 0).toString('hex')).not.toContain(fingerprint);
    expect(fingerprint).not.toContain(key.slice(-4));
  });

  it('fingerprint any string, of any size or encoding, and nothing for no key', () => {
    const fingerprints = new KeyFingerprints([pepper(1)]);
    expect(fingerprints.of(undefined)).toBeUndefined();
    expect(fingerprints.of('')).toBeUndefined();
    expect(fingerprints.of(42)).toBeUndefined();
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 2000 }).filter((s) => s.length > 0),
        (s) => /^[0-9a-f]{16}$/.test(fingerprints.of(s)!),
      ),
    );
    expect(fingerprints.of('a'.repeat(10_000))).toBe(fingerprints.of('a'.repeat(256)));
    expect(fingerprints.of('kl_live_x')).not.toBe(fingerprints.of('kl_live_y'));
  });
});
