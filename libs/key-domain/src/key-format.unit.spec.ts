import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { KEY_BODY_LENGTH, formatNewKey, isWellFormedKey, keyChecksum, keyHint, parseKey } from './key-format.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const key = (): string => formatNewKey('kl', 'live', (n) => randomBytes(n));
/** Printable ASCII and a few non-ASCII characters a key might be corrupted into. */
const replacement = fc.oneof(fc.constantFrom(...BASE62.split(''), '_', '-', ' ', 'é', '\u0000', '😀'), fc.string({ minLength: 1, maxLength: 1 }));

describe('key format', () => {
  it('formats keys that parse back to their parts', () => {
    const k = formatNewKey('acme', 'test', (n) => randomBytes(n));
    expect(k).toMatch(new RegExp(`^acme_test_[0-9A-Za-z]{${KEY_BODY_LENGTH}}[0-9A-Za-z]{6}$`));
    expect(parseKey(k)).toEqual({ prefix: 'acme', environment: 'test', body: k.slice(10, 10 + KEY_BODY_LENGTH) });
  });

  it('accepts keys of every prefix length and body length the format allows', () => {
    const prefix = fc.stringMatching(/^[a-z][a-z0-9]{1,15}$/);
    const body = fc.stringMatching(/^[0-9A-Za-z]{32,64}$/);
    fc.assert(
      fc.property(prefix, fc.constantFrom('live', 'test'), body, (p, environment, b) => {
        const unchecked = `${p}_${environment}_${b}`;
        const k = unchecked + keyChecksum(unchecked);
        expect(isWellFormedKey(k)).toBe(true);
        expect(parseKey(k)).toEqual({ prefix: p, environment, body: b });
      }),
    );
  });

  it('puts the CRC32 of the rest in the last six characters', () => {
    const k = key();
    expect(k.slice(-6)).toBe(keyChecksum(k.slice(0, -6)));
  });

  it('rejects every single-character change as malformed', () => {
    fc.assert(
      fc.property(fc.nat(), replacement, (at, char) => {
        const k = key();
        const index = at % k.length;
        fc.pre(k[index] !== char);
        return parseKey(k.slice(0, index) + char + k.slice(index + 1)) === undefined;
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects every swap of two different adjacent characters as malformed', () => {
    const k = key();
    for (let i = 0; i + 1 < k.length; i += 1) {
      if (k[i] === k[i + 1]) continue;
      const swapped = k.slice(0, i) + k[i + 1] + k[i] + k.slice(i + 2);
      expect(parseKey(swapped)).toBeUndefined();
    }
  });

  it('answers any input of any size or type without throwing', () => {
    fc.assert(fc.property(fc.anything(), (value) => parseKey(value) === undefined || typeof value === 'string'));
    fc.assert(fc.property(fc.string({ maxLength: 5000 }), (value) => parseKey(value) === undefined));
    expect(parseKey('kl_live_' + 'a'.repeat(1_000_000))).toBeUndefined();
  });

  it('draws body characters uniformly (no modulo bias)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i += 1) for (const c of key().slice(8, 8 + KEY_BODY_LENGTH)) counts.set(c, (counts.get(c) ?? 0) + 1);
    const expected = (2000 * KEY_BODY_LENGTH) / 62;
    // Each of the 62 characters within 20% of its expected count (~1032 each).
    expect(counts.size).toBe(62);
    for (const count of counts.values()) expect(Math.abs(count - expected) / expected).toBeLessThan(0.2);
  });

  it('shows only the prefix, environment and last four characters in a hint', () => {
    const k = key();
    expect(keyHint(k)).toBe(`kl_live_…${k.slice(-4)}`);
  });
});
