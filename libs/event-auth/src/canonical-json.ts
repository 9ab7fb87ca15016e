import canonicalize from 'canonicalize';

/** Integer-like keys, which V8 enumerates first and in numeric order whatever order they were set in. */
const ARRAY_INDEX_KEY = /^(?:0|[1-9]\d{0,9})$/;

/** A value the fast path does not serialise exactly as RFC 8785 would; the reference serialiser takes it. */
class NeedsReferenceSerialiser extends Error {}

/**
 * RFC 8785 canonical JSON: keys sorted by UTF-16 code units, primitives as ECMAScript's
 * JSON.stringify writes them. Canonical matters: Postgres jsonb reorders keys, so the text that
 * was sent would not come back; and an object of named fields leaves no room for two splits of one input.
 *
 * Every stored row's MAC, chain hash and tree leaf is checked over this text, so it is on the
 * path of every read of the store. The fast path copies the value with its keys in canonical
 * order and lets the engine's native JSON.stringify write it, about twice as fast as
 * concatenating strings in JavaScript. What it cannot copy exactly (integer-like keys, which the
 * engine would reorder; `__proto__`, which an assignment would not copy; a toJSON; a class instance; a number that is not finite; a lone
 * surrogate; a cycle) goes to the `canonicalize` package, which also throws the errors.
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(inCanonicalOrder(value, 0));
  } catch (error) {
    if (!(error instanceof NeedsReferenceSerialiser)) throw error;
    text = canonicalize(value);
  }
  if (text === undefined) throw new TypeError('value cannot be serialised canonically');
  return text;
}

/** Deeper than any event; a cycle reaches it and is left to the reference serialiser to refuse. */
const MAX_DEPTH = 64;

function inCanonicalOrder(value: unknown, depth: number): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new NeedsReferenceSerialiser();
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new NeedsReferenceSerialiser();
      return value;
    case 'boolean':
      return value;
    case 'object':
      if (depth >= MAX_DEPTH) throw new NeedsReferenceSerialiser();
      return Array.isArray(value) ? arrayInCanonicalOrder(value, depth + 1) : objectInCanonicalOrder(value, depth + 1);
    default:
      throw new NeedsReferenceSerialiser();
  }
}

function arrayInCanonicalOrder(array: readonly unknown[], depth: number): unknown[] {
  if (Object.getPrototypeOf(array) !== Array.prototype) throw new NeedsReferenceSerialiser();
  const copy = new Array<unknown>(array.length);
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    copy[i] = item === undefined ? null : inCanonicalOrder(item, depth);
  }
  return copy;
}

function objectInCanonicalOrder(object: object, depth: number): Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(object);
  if ((prototype !== Object.prototype && prototype !== null) || typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    throw new NeedsReferenceSerialiser();
  }
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(object).sort()) {
    const item = (object as Record<string, unknown>)[key];
    if (item === undefined) continue;
    if (ARRAY_INDEX_KEY.test(key) || key === '__proto__' || !key.isWellFormed()) throw new NeedsReferenceSerialiser();
    copy[key] = inCanonicalOrder(item, depth);
  }
  return copy;
}
