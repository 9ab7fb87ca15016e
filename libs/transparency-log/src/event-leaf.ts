import type { EventContentFields } from '@keyledger/event-auth';
import { canonicalEventContent } from '@keyledger/event-auth';
import type { RowContent } from '@keyledger/event-store';
import { LEAF_PREFIX_BYTE, leafHash } from './merkle-tree.js';

/** An event as the log's leaf covers it: its content and the hash its stream's chain stored for it. */
export interface LeafEvent extends EventContentFields {
  /** The stream chain's hash of the event, hex (events.hash). */
  readonly hash: string;
}

/**
 * The leaf data of an event: the 32 bytes of its chain hash, then the UTF-8 of its canonical
 * content (`canonicalEventContent`, what the chain hash and the stored MAC cover). The chain
 * hash ties the leaf to everything before it in its stream; the content lets whoever holds the
 * event recompute the leaf without trusting the hash. Fixed length first: no two splits of one input.
 */
export function eventLeafData(event: LeafEvent): Buffer {
  return leafDataOfContent(event.eventId, event.hash, canonicalEventContent(event));
}

/** The RFC 6962 leaf hash of an event: SHA-256(0x00 || eventLeafData(event)). */
export function eventLeafHash(event: LeafEvent): Buffer {
  return leafHash(eventLeafData(event));
}

/** `eventLeafHash` of an event whose canonical content text (`canonicalRowContent`), or its UTF-8, is already at hand. */
export function eventLeafHashOfContent(eventId: string, hash: string, content: string | Uint8Array): Buffer {
  return leafHash(leafDataOfContent(eventId, hash, content));
}

/** `eventLeafHash` of a row read back whose content was made once (`RowContent`, from `ChainCheck`): one SHA-256 call, nothing copied. */
export function eventLeafHashOfRow(eventId: string, hash: string, content: RowContent): Buffer {
  // As strict as leafDataOfContent: Buffer's hex reading would also take upper case.
  if (!CHAIN_HASH_HEX.test(hash)) throw new RangeError(`event ${eventId} has no 32-byte hex chain hash`);
  try {
    return content.sha256After(hash, LEAF_PREFIX_BYTE, 'buffer');
  } catch {
    throw new RangeError(`event ${eventId} has no 32-byte hex chain hash`);
  }
}

/** A chain hash as the store writes it out: 32 bytes, lower-case hex. */
const CHAIN_HASH_HEX = /^[0-9a-f]{64}$/;

function leafDataOfContent(eventId: string, hash: string, content: string | Uint8Array): Buffer {
  if (!CHAIN_HASH_HEX.test(hash)) throw new RangeError(`event ${eventId} has no 32-byte hex chain hash`);
  return Buffer.concat([Buffer.from(hash, 'hex'), typeof content === 'string' ? Buffer.from(content, 'utf8') : content]);
}
