import type { DataSource } from 'typeorm';
import type { EventMetadata } from '@keyledger/contracts';
import { GENESIS_HASH, eventHash } from './event-hash.js';

/** Why a stored event does not verify. */
export type ChainBreakReason =
  /** The event's content (or its stored hash) is not what was appended. */
  | 'hash-mismatch'
  /** Versions before this event are missing: a row was removed. */
  | 'missing-previous-event';

export interface ChainBreak {
  readonly streamId: string;
  readonly streamVersion: number;
  readonly position: string;
  readonly reason: ChainBreakReason;
}

export interface ChainReport {
  readonly ok: boolean;
  readonly streamsChecked: number;
  readonly eventsChecked: number;
  readonly breaks: readonly ChainBreak[];
}

interface ChainRow {
  position: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
  hash: Buffer;
}

/**
 * Recomputes every stream's hash chain from the stored rows and reports each row that does
 * not match, with its global position. It reads with keyset pages so a large store is
 * checked in constant memory. Run it with a role that may read the events table.
 */
export async function verifyEventChains(dataSource: DataSource, options: { streamId?: string; pageSize?: number } = {}): Promise<ChainReport> {
  const pageSize = options.pageSize ?? 2000;
  const breaks: ChainBreak[] = [];
  let eventsChecked = 0;
  let streamsChecked = 0;
  let cursor: { streamId: string; version: number } = { streamId: '', version: 0 };
  let current: { streamId: string; version: number; hash: Buffer } | undefined;

  for (;;) {
    const rows = await dataSource.query<ChainRow[]>(
      `select position::text, event_id::text, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash
         from events
        where (stream_id, stream_version) > ($1, $2) and ($3::text is null or stream_id = $3)
        order by stream_id, stream_version
        limit $4`,
      [cursor.streamId, cursor.version, options.streamId ?? null, pageSize],
    );
    for (const row of rows) {
      if (current?.streamId !== row.stream_id) {
        streamsChecked += 1;
        current = { streamId: row.stream_id, version: 0, hash: GENESIS_HASH };
      }
      const breakOf = (reason: ChainBreakReason): ChainBreak => ({
        streamId: row.stream_id,
        streamVersion: row.stream_version,
        position: row.position,
        reason,
      });
      if (row.stream_version !== current.version + 1) breaks.push(breakOf('missing-previous-event'));
      const expected = eventHash(current.hash, {
        eventId: row.event_id,
        streamId: row.stream_id,
        streamVersion: row.stream_version,
        type: row.type,
        schemaVersion: row.schema_version,
        occurredAt: row.occurred_at.toISOString(),
        data: row.data,
        metadata: row.metadata,
      });
      if (!expected.equals(row.hash) && row.stream_version === current.version + 1) breaks.push(breakOf('hash-mismatch'));
      // Continue from the stored hash so one edited row is reported once, not every row after it.
      current = { streamId: row.stream_id, version: row.stream_version, hash: row.hash };
      eventsChecked += 1;
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < pageSize) break;
    cursor = { streamId: last.stream_id, version: last.stream_version };
  }
  return { ok: breaks.length === 0, streamsChecked, eventsChecked, breaks };
}
