import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { canonicalJson } from './canonical-json.js';

/** What the reference serialiser writes for a value, or that it refuses it (undefined is refused too: it has no text). */
function reference(value: unknown): { text?: string; error?: true } {
  try {
    const text = canonicalize(value);
    return text === undefined ? { error: true } : { text };
  } catch {
    return { error: true };
  }
}

function fast(value: unknown): { text?: string; error?: true } {
  try {
    return { text: canonicalJson(value) };
  } catch {
    return { error: true };
  }
}

describe('canonicalJson', () => {
  it('writes exactly what the RFC 8785 reference writes for any JSON value', () => {
    const keys = fc.oneof(fc.string(), fc.constantFrom('0', '1', '10', '9', '01', '-1', '4294967295', 'a', 'é', '\u{1F600}', '\uffff', '__proto__'));
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('array'), tie('object')),
      leaf: fc.oneof(fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      array: fc.array(tie('node'), { maxLength: 5 }),
      object: fc.dictionary(keys, tie('node'), { maxKeys: 6 }),
    })).node;
    fc.assert(fc.property(value, (v) => expect(fast(v)).toEqual(reference(v))), { numRuns: 5000 });
  });

  it('orders integer-like keys as strings, not as the engine enumerates them', () => {
    expect(canonicalJson({ 10: 'a', 9: 'b', x: 1, '01': 2 })).toBe('{"01":2,"10":"a","9":"b","x":1}');
  });

  it('sorts keys by UTF-16 code units', () => {
    expect(canonicalJson({ '\uffff': 1, '\u{1F600}': 2, é: 3, z: 4 })).toBe('{"z":4,"é":3,"\u{1F600}":2,"\uffff":1}');
  });

  it('follows toJSON and class instances as the reference does', () => {
    const at = new Date('2026-12-06T10:00:00.000Z');
    expect(canonicalJson({ at, list: [at] })).toBe('{"at":"2026-12-06T10:00:00.000Z","list":["2026-12-06T10:00:00.000Z"]}');
  });

  it.each([
    ['NaN', { n: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['a lone surrogate in a value', { s: '\ud800' }],
    ['a lone surrogate in a key', { '\udc00': 1 }],
  ])('refuses %s', (_what, value) => {
    expect(() => canonicalJson(value)).toThrow();
  });

  it('refuses a cycle', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = { back: cyclic };
    expect(() => canonicalJson(cyclic)).toThrow();
  });
});
