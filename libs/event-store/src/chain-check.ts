import type { EntityManager } from 'typeorm';
import type { EventAuthenticator } from '@keyledger/event-auth';
import { canonicalEventContent } from '@keyledger/event-auth';
import { GENESIS_HASH, rowContentHash } from './event-hash.js';
import type { EventRow } from './event-row.js';
import { toEnvelope } from './event-row.js';
import { RowContent } from './row-content.js';
import { checkStoredRowContent } from './stored-content-check.js';

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

/** Anything that can run SQL: a DataSource or a transaction's manager. */
type Queryable = Pick<EntityManager, 'query'>;

/** Streams whose newest row is remembered; a stream evicted costs one indexed lookup when it shows up again. */
const DEFAULT_REMEMBERED_STREAMS = 100_000;

const GENESIS_HEX = GENESIS_HASH.toString('hex');

interface Remembered {
  readonly version: number;
  readonly hash: string;
}

function chainBreak(row: EventRow, reason: ChainBreakReason, detail?: string): ChainBreak {
  return {
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    position: row.position,
    reason,
    ...(detail === undefined ? {} : { detail }),
  };
}

/**
 * Checks stored rows, read in any order (the log's, a range of it), against their streams' hash
 * chains and their MACs: a row holds when the row one version before it in its stream exists
 * (none for version 1), its content chained onto that row's stored hash gives its own stored
 * hash, and its MAC and data check out. One break per row, the chain's before the MAC's, so an
 * edited row is named once rather than every row after it.
 *
 * Each row's canonical content is made once (`RowContent`) and returned, for the caller's other
 * checks of the same row (the transparency log's leaf). The previous row's stored hash comes
 * from the newest row seen of its stream (at most `rememberedStreams` streams, in two
 * generations: once the recent one holds half, it becomes the older one and the older is
 * dropped; about 215 bytes each, so 21 MB for the default 100,000 where 1,000,000 streams
 * unbounded would take 215 MB) or, when that is not the
 * row before (the stream's first row in this read, one evicted, rows out of version order), from
 * one lookup per page of the rows still unknown. Because the answer never depends on what was
 * read before, separate ranges of the log are checked apart and their breaks simply added.
 */
export class ChainCheck {
  // Two generations rather than a least-recently-used map: an LRU deletes and re-inserts an entry
  // per row, and the deletions make the map rehash, which on the audit of a million events cost
  // more garbage collection than anything else a row makes; a generation is dropped whole.
  private recent = new Map<string, Remembered>();
  private older = new Map<string, Remembered>();
  private readonly found: ChainBreak[] = [];
  private streams = 0;
  private events = 0;

  constructor(
    private readonly db: Queryable,
    private readonly authenticator: EventAuthenticator,
    private readonly rememberedStreams = DEFAULT_REMEMBERED_STREAMS,
  ) {}

  /** Checks the rows, records their breaks, and returns each row's canonical content (made and encoded once for every hash of it), in order. */
  async check(rows: readonly EventRow[]): Promise<RowContent[]> {
    // The stored hash of each row's predecessor: hex, GENESIS for version 1, null when to be looked up.
    const previous: (string | null)[] = rows.map((row) => {
      const newest = this.recent.get(row.stream_id) ?? this.older.get(row.stream_id);
      const known = row.stream_version === 1 ? GENESIS_HEX : newest?.version === row.stream_version - 1 ? newest.hash : null;
      this.remember(row);
      return known;
    });
    const firsts = new Set<number>(rows.flatMap((row, i) => (row.stream_version === 1 ? [i] : [])));
    await this.lookUp(rows, previous, firsts);

    const contents = new Array<RowContent>(rows.length);
    for (let i = 0; i < rows.length; i += 1) {
      const row = rows[i]!;
      // One envelope per row: the content text is made from it and the MAC check reads it.
      const event = toEnvelope(row);
      const content = new RowContent(canonicalEventContent(event));
      contents[i] = content;
      const before = previous[i];
      // After a gap the hash cannot match anyway: report the gap alone. Stored hashes are read
      // with encode(hash, 'hex'), so one of another length than 32 bytes is a mismatch, not an error.
      if (before === null || before === undefined) this.found.push(chainBreak(row, 'missing-previous-event'));
      else if (before.length !== 64 || rowContentHash(before, content) !== row.hash) this.found.push(chainBreak(row, 'hash-mismatch'));
      else {
        const { rejection } = checkStoredRowContent(this.authenticator, row, content.bytes, event);
        if (rejection) this.found.push(chainBreak(row, 'mac-mismatch', rejection.reason));
      }
    }
    this.streams += firsts.size;
    this.events += rows.length;
    return contents;
  }

  /** Everything checked so far. */
  report(): ChainReport {
    return { ok: this.found.length === 0, streamsChecked: this.streams, eventsChecked: this.events, breaks: [...this.found] };
  }

  private remember(row: EventRow): void {
    // The recent generation always holds a stream's newest row once it is seen again, and is looked in first.
    this.recent.set(row.stream_id, { version: row.stream_version, hash: row.hash });
    if (this.recent.size >= Math.max(1, Math.floor(this.rememberedStreams / 2))) {
      this.older = this.recent;
      this.recent = new Map();
    }
  }

  /** Fills in the predecessors not remembered, from the store; notes the rows that are their stream's first (no lower version stored). */
  private async lookUp(rows: readonly EventRow[], previous: (string | null)[], firsts: Set<number>): Promise<void> {
    const unknown = previous.flatMap((hash, i) => (hash === null ? [i] : []));
    if (unknown.length === 0) return;
    const found = await this.db.query<{ i: number; hash: string | null; first: boolean }[]>(
      `select w.i::int, encode(e.hash, 'hex') as hash,
              case when e.hash is null then not exists (select 1 from events x where x.stream_id = w.stream_id and x.stream_version < w.version) else false end as first
         from unnest($1::int[], $2::text[], $3::int[]) as w(i, stream_id, version)
         left join events e on e.stream_id = w.stream_id and e.stream_version = w.version - 1`,
      [unknown, unknown.map((i) => rows[i]!.stream_id), unknown.map((i) => rows[i]!.stream_version)],
    );
    for (const { i, hash, first } of found) {
      previous[i] = hash;
      if (first) firsts.add(i);
    }
  }
}
