import canonicalize from 'canonicalize';
import type { EventMetadata } from '@keyledger/contracts';

/**
 * The fields that make an event what it is, wherever it landed in the global log: what the
 * store's hash chain and the stored MAC both cover, and what the published seal extends.
 */
export interface EventContentFields {
  readonly eventId: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly schemaVersion: number;
  readonly occurredAt: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
}

/** The named fields only: whatever else an object carries (a row's position, a caller's extra) is neither hashed nor sealed. */
export function eventContent(event: EventContentFields): EventContentFields {
  return {
    eventId: event.eventId,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    type: event.type,
    schemaVersion: event.schemaVersion,
    occurredAt: event.occurredAt,
    data: event.data,
    metadata: event.metadata,
  };
}

/**
 * RFC 8785 canonical JSON. Canonical matters: Postgres jsonb reorders keys, so the text that
 * was sent would not come back; and an object of named fields leaves no room for two splits of one input.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value cannot be serialised canonically');
  return text;
}

/** The canonical text of an event's content: the input of its chain hash and of its stored MAC. */
export function canonicalEventContent(event: EventContentFields): string {
  return canonicalJson(eventContent(event));
}
