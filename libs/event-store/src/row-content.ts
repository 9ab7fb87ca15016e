import { hash } from 'node:crypto';
import { canonicalEventContent } from '@keyledger/event-auth';
import type { EventRow } from './event-row.js';
import { toEnvelope } from './event-row.js';

/**
 * The canonical text of a stored row's content (RFC 8785, `canonicalEventContent`): what its
 * chain hash, its stored MAC and its transparency-log leaf all cover. The one place that text
 * is made from a row, so a verifier computes it once per row and hands it to every check.
 */
export function canonicalRowContent(row: EventRow): string {
  return canonicalEventContent(toEnvelope(row));
}

/** Room before the content: a one-byte prefix, then a 32-byte hash. */
const HEAD_BYTES = 33;

/**
 * A row's canonical content (`canonicalRowContent`) encoded once as UTF-8, with room before it
 * for a one-byte prefix and a 32-byte hash. Each hash a verifier makes over "a hash, then the
 * content" (the stream chain's, the log's leaf) is then one SHA-256 call over one buffer, where
 * concatenating and feeding a Hash object cost more than the hashing of such a row: on the
 * audit of a million events that was three calls and a copy of the content per hash.
 */
export class RowContent {
  private readonly frame: Buffer;

  constructor(text: string) {
    // Pooled when small, as Buffer.from is; every byte hashed is written before it is read.
    this.frame = Buffer.allocUnsafe(HEAD_BYTES + Buffer.byteLength(text, 'utf8'));
    this.frame.write(text, HEAD_BYTES, 'utf8');
  }

  /** The content's UTF-8. */
  get bytes(): Buffer {
    return this.frame.subarray(HEAD_BYTES);
  }

  /**
   * SHA-256 over the 32 bytes of `hashHex` then the content, with `prefix` as a first byte when
   * given. Throws a RangeError when `hashHex` is not 32 bytes of hex.
   */
  sha256After(hashHex: string, prefix: number | undefined, encoding: 'hex'): string;
  sha256After(hashHex: string, prefix: number | undefined, encoding: 'buffer'): Buffer;
  sha256After(hashHex: string, prefix: number | undefined, encoding: 'hex' | 'buffer'): string | Buffer {
    // Buffer.write stops at the first character that is not hex: a short count is a bad hash.
    if (hashHex.length !== 64 || this.frame.write(hashHex, 1, 32, 'hex') !== 32) throw new RangeError('not a 32-byte hex hash');
    const from = prefix === undefined ? 1 : 0;
    if (prefix !== undefined) this.frame[0] = prefix;
    const input = this.frame.subarray(from);
    return encoding === 'hex' ? hash('sha256', input, 'hex') : hash('sha256', input, 'buffer');
  }
}
