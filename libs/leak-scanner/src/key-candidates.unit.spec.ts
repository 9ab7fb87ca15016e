import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { formatNewKey, keyHint } from '@keyledger/key-domain';
import { keysInLine } from './key-candidates.js';

const key = (prefix = 'kl', env: 'live' | 'test' = 'live'): string => formatNewKey(prefix, env, (n) => randomBytes(n));

describe('keys in a line', () => {
  it('finds every key in any surrounding text, with its column and hint', () => {
    const around = fc.string({ maxLength: 30 }).map((s) => s.replace(/[A-Za-z0-9_]$/, ' '));
    const after = fc.string({ maxLength: 30 }).map((s) => s.replace(/^[A-Za-z0-9_]/, ' '));
    fc.assert(
      fc.property(around, after, fc.constantFrom('kl', 'acme', 'p2'), fc.constantFrom('live', 'test'), (before, rest, prefix, env) => {
        const k = key(prefix, env);
        const [found, ...more] = keysInLine(`${before}${k}${rest}`);
        expect(more).toEqual([]);
        expect(found).toEqual({ column: before.length + 1, hint: keyHint(k), key: k });
      }),
    );
  });

  it('finds several keys on one line, in quotes, assignments and URLs', () => {
    const [a, b, c] = [key(), key('acme', 'test'), key()];
    const line = `API_KEY="${a}" other='${b}' url=https://x.example/?key=${c}&x=1`;
    expect(keysInLine(line).map((f) => f.key)).toEqual([a, b, c]);
  });

  it('ignores lookalikes: a wrong checksum, a key glued to more characters, a wrong environment', () => {
    const k = key();
    const typo = k.slice(0, 12) + (k[12] === 'A' ? 'B' : 'A') + k.slice(13);
    expect(keysInLine(typo)).toEqual([]);
    expect(keysInLine(`x${k}`)).toEqual([]);
    expect(keysInLine(`${k}9`)).toEqual([]);
    expect(keysInLine(k.replace('_live_', '_prod_'))).toEqual([]);
    expect(keysInLine('kl_live_' + 'A'.repeat(38))).toEqual([]);
  });
});
