import type { DataSource } from 'typeorm';
import type { EventAuthenticator } from '@keyledger/event-auth';
import { GENESIS_HASH, eventHash } from './event-hash.js';
import type { EventRow } from './event-row.js';
import { SELECT_EVENT, toEnvelope } from './event-row.js';
import { checkStoredRow } from './stored-event-check.js';

/** Why a stored event does not verify. */
export type ChainBreakReason =
  /** The event's content (or its stored hash) is not what was appended. */
  | 'hash-mismatch'
  /** Versions before this event are missing: a row was removed. */
  | 'missing-previous-event'
  /**
   * The chain holds, but the row is not authentic (no MAC, a wrong one, an event key version not
   * configured) or not of its type's shape: written without the event key, e.g. by SQL with a
   * correctly recomputed hash. Every read refuses it.
   */
  | 'mac-mismatch';

export interface ChainBreak {
  readonly streamId: string;
  readonly streamVersion: number;
  readonly position: string;
  readonly reason: ChainBreakReason;
  /** For `mac-mismatch`: which check failed (`unsealed`, `bad-mac`, `bad-schema`…). */
  readonly detail?: string;
}

export interface ChainReport {
  readonly ok: boolean;
  readonly streamsChecked: number;
  readonly eventsChecked: number;
  readonly breaks: readonly ChainBreak[];
}

/**
 * Recomputes every stream's hash chain from the stored rows and checks each row's MAC, and
 * reports each row that does not match, with its global position: one break per row, the
 * chain's (`missing-previous-event`, `hash-mismatch`) before the MAC's. It reads with keyset
 * pages so a large store is checked in constant memory. Run it with a role that may read the
 * events table.
 */
export async function verifyEventChains(
  dataSource: DataSource,
  authenticator: EventAuthenticator,
  options: { streamId?: string; pageSize?: number } = {},
): Promise<ChainReport> {
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
    for (const row of rows) {
      const event = toEnvelope(row);
      if (current?.streamId !== event.streamId) {
        streamsChecked += 1;
        current = { streamId: event.streamId, version: 0, hash: GENESIS_HASH };
      }
      const breakOf = (reason: ChainBreakReason, detail?: string): ChainBreak => ({
        streamId: event.streamId,
        streamVersion: event.streamVersion,
        position: event.position,
        reason,
        ...(detail === undefined ? {} : { detail }),
      });
      const follows = event.streamVersion === current.version + 1;
      if (!follows) breaks.push(breakOf('missing-previous-event'));
      // After a gap the hash cannot match anyway: report the gap alone.
      else if (eventHash(current.hash, event).toString('hex') !== event.hash) breaks.push(breakOf('hash-mismatch'));
      else {
        const { rejection } = checkStoredRow(authenticator, row);
        if (rejection) breaks.push(breakOf('mac-mismatch', rejection.reason));
      }
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
