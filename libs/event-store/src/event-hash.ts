import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { EventMetadata } from '@keyledger/contracts';

/** The first event of every stream chains onto 32 zero bytes. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** The fields of an event that its hash covers: everything except where it landed globally. */
export interface HashedEventFields {
  readonly eventId: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly schemaVersion: number;
  readonly occurredAt: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

/**
 * SHA-256 over the previous hash and the event in RFC 8785 canonical JSON. Canonical JSON
 * matters: Postgres jsonb reorders keys, so hashing the text we sent would not reproduce.
 */
export function eventHash(previousHash: Buffer, event: HashedEventFields): Buffer {
  const canonical = canonicalize({
    eventId: event.eventId,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    type: event.type,
    schemaVersion: event.schemaVersion,
    occurredAt: event.occurredAt,
    data: event.data,
    metadata: event.metadata,
  });
  if (canonical === undefined) throw new TypeError('event cannot be serialised canonically');
  return createHash('sha256').update(previousHash).update(canonical, 'utf8').digest();
}
