import type { EventMetadata } from '@keyledger/contracts';
import { canonicalJson } from './canonical-json.js';

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

/** The canonical text of an event's content: the input of its chain hash and of its stored MAC. */
export function canonicalEventContent(event: EventContentFields): string {
  return canonicalJson(eventContent(event));
}
