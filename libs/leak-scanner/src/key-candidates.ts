import { keyHint, keysInText } from '@keyledger/key-domain';

/** A key found in a line of text: where, and its display hint (never the key itself). */
export interface KeyInLine {
  readonly column: number;
  readonly hint: string;
  /** The key, for a caller that reports the leak to the issuer; never print it. */
  readonly key: string;
}

/** Keyledger keys in one line of text, by format and checksum: a lookalike with a wrong checksum is not one. */
export function keysInLine(line: string): KeyInLine[] {
  return keysInText(line).map(({ index, key }) => ({ column: index + 1, hint: keyHint(key), key }));
}
