import type { EventContentFields } from '@keyledger/event-auth';
import { canonicalEventContent } from '@keyledger/event-auth';
import { leafHash } from './merkle-tree.js';

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
  if (!/^[0-9a-f]{64}$/.test(event.hash)) throw new RangeError(`event ${event.eventId} has no 32-byte hex chain hash`);
  return Buffer.concat([Buffer.from(event.hash, 'hex'), Buffer.from(canonicalEventContent(event), 'utf8')]);
}

/** The RFC 6962 leaf hash of an event: SHA-256(0x00 || eventLeafData(event)). */
export function eventLeafHash(event: LeafEvent): Buffer {
  return leafHash(eventLeafData(event));
}
