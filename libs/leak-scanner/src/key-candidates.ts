import { isWellFormedKey, keyHint } from '@keyledger/key-domain';

/** Anything shaped like a key; the checksum then tells real keys from lookalikes. */
const CANDIDATE = /(?<![A-Za-z0-9_])[a-z][a-z0-9]{1,15}_(?:live|test)_[0-9A-Za-z]{38,70}(?![A-Za-z0-9_])/g;

/** A key found in a line of text: where, and its display hint (never the key itself). */
export interface KeyInLine {
  readonly column: number;
  readonly hint: string;
  /** The key, for a caller that reports the leak to the issuer; never print it. */
  readonly key: string;
}

/** Keyledger keys in one line of text, by format and checksum: a lookalike with a wrong checksum is not one. */
export function keysInLine(line: string): KeyInLine[] {
  const found: KeyInLine[] = [];
  for (const match of line.matchAll(CANDIDATE)) {
    if (isWellFormedKey(match[0])) found.push({ column: match.index + 1, hint: keyHint(match[0]), key: match[0] });
  }
  return found;
}
