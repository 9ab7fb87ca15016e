import type { EventEnvelope, EventMetadata } from '@keyledger/contracts';

/** A row of the events table as the readers select it. */
export interface EventRow {
  position: string;
  transaction_id: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
  hash: string;
  /** The event key version of its MAC; null for a row without one. */
  auth_version: number | null;
  auth_mac: Buffer | null;
}

// Output columns are cast to text (bigint and xid8 exceed JS numbers), so ORDER BY must
// name the table's columns (events.position), or Postgres sorts by the text outputs.
export const SELECT_EVENT = `position::text, transaction_id::text, event_id::text, stream_id, stream_version, type,
  schema_version, data, metadata, occurred_at, encode(hash, 'hex') as hash, auth_version, auth_mac`;

export function toEnvelope(row: EventRow): EventEnvelope {
  return {
    position: row.position,
    transactionId: row.transaction_id,
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: row.metadata,
    occurredAt: row.occurred_at.toISOString(),
    hash: row.hash,
  };
}
