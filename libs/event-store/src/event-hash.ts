import { createHash } from 'node:crypto';
import type { EventContentFields } from '@keyledger/event-auth';
import { canonicalEventContent } from '@keyledger/event-auth';
import type { RowContent } from './row-content.js';

/** The first event of every stream chains onto 32 zero bytes. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** SHA-256 over the previous hash and the event's canonical content (the same text its stored MAC covers). */
export function eventHash(previousHash: Buffer, event: EventContentFields): Buffer {
  return contentHash(previousHash, canonicalEventContent(event));
}

/** `eventHash` of an event whose canonical content text (`canonicalRowContent`), or its UTF-8, is already at hand. */
export function contentHash(previousHash: Buffer, content: string | Uint8Array): Buffer {
  const hash = createHash('sha256').update(previousHash);
  return (typeof content === 'string' ? hash.update(content, 'utf8') : hash.update(content)).digest();
}

/** `contentHash` of a row read back, as hex: its predecessor's stored hash (hex) and its content made once (`RowContent`). */
export function rowContentHash(previousHashHex: string, content: RowContent): string {
  return content.sha256After(previousHashHex, undefined, 'hex');
}
