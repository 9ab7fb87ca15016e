import { createHash } from 'node:crypto';
import type { EventContentFields } from '@keyledger/event-auth';
import { canonicalEventContent } from '@keyledger/event-auth';

/** The first event of every stream chains onto 32 zero bytes. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** SHA-256 over the previous hash and the event's canonical content (the same text its stored MAC covers). */
export function eventHash(previousHash: Buffer, event: EventContentFields): Buffer {
  return contentHash(previousHash, canonicalEventContent(event));
}

/** `eventHash` of an event whose canonical content text is already at hand (`canonicalRowContent`). */
export function contentHash(previousHash: Buffer, content: string): Buffer {
  return createHash('sha256').update(previousHash).update(content, 'utf8').digest();
}
