import { isWellFormedKey } from './key-format.js';

/** Anything shaped like a key, not glued to other key characters; the checksum then tells real keys from lookalikes. */
const CANDIDATE = /(?<![A-Za-z0-9_])[a-z][a-z0-9]{1,15}_(?:live|test)_[0-9A-Za-z]{38,70}(?![A-Za-z0-9_])/g;

/** A well-formed key in a text, at a 0-based index. */
export interface KeyInText {
  readonly index: number;
  readonly key: string;
}

/** Keyledger keys in a text, by format and checksum: a lookalike with a wrong checksum is not one. */
export function keysInText(text: string): KeyInText[] {
  const found: KeyInText[] = [];
  for (const match of text.matchAll(CANDIDATE)) if (isWellFormedKey(match[0])) found.push({ index: match.index, key: match[0] });
  return found;
}
