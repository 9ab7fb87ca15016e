import type { DataSource } from 'typeorm';
import { GENESIS_HASH, eventHash } from './event-hash.js';
import type { EventRow } from './event-row.js';
import { SELECT_EVENT, toEnvelope } from './event-row.js';

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
    const rows = await dataSource.query<EventRow[]>(
      `select ${SELECT_EVENT} from events
        where (stream_id, stream_version) > ($1, $2) and ($3::text is null or stream_id = $3)
        order by events.stream_id, events.stream_version
        limit $4`,
      [cursor.streamId, cursor.version, options.streamId ?? null, pageSize],
    );
    for (const event of rows.map(toEnvelope)) {
      if (current?.streamId !== event.streamId) {
        streamsChecked += 1;
        current = { streamId: event.streamId, version: 0, hash: GENESIS_HASH };
      }
      const breakOf = (reason: ChainBreakReason): ChainBreak => ({
        streamId: event.streamId,
        streamVersion: event.streamVersion,
        position: event.position,
        reason,
      });
      const follows = event.streamVersion === current.version + 1;
      if (!follows) breaks.push(breakOf('missing-previous-event'));
      // After a gap the hash cannot match anyway: report the gap alone.
      else if (eventHash(current.hash, event).toString('hex') !== event.hash) breaks.push(breakOf('hash-mismatch'));
      // Continue from the stored hash so one edited row is reported once, not every row after it.
      current = { streamId: event.streamId, version: event.streamVersion, hash: Buffer.from(event.hash, 'hex') };
      eventsChecked += 1;
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < pageSize) break;
    cursor = { streamId: last.stream_id, version: last.stream_version };
  }
  return { ok: breaks.length === 0, streamsChecked, eventsChecked, breaks };
}
