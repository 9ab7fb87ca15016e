import { SpanKind } from '@opentelemetry/api';
import type { DataSource } from 'typeorm';
import { QueryFailedError } from 'typeorm';
import type { EventEnvelope, EventMetadata, EventType, GlobalPosition } from '@keyledger/contracts';
import { MAX_EVENT_BYTES, checkEventData, eventIdSchema, eventMetadataSchema, isEventType, isStreamId } from '@keyledger/contracts';
import type { EventAuthentication, EventRejection } from '@keyledger/event-auth';
import canonicalize from 'canonicalize';
import { newEventId } from '@keyledger/ids';
import { inSpan, traceContextFields } from '@keyledger/observability';
import { ConcurrencyConflictError, EventIdConflictError, EventIntegrityError, InvalidEventError } from './event-store.errors.js';
import { GENESIS_HASH, eventHash } from './event-hash.js';
import type { EventRow } from './event-row.js';
import { SELECT_EVENT } from './event-row.js';
import { checkStoredRow } from './stored-event-check.js';

/** An event to append. `eventId` makes retries idempotent: supply it when you may retry. */
export interface NewEvent<TData = Record<string, unknown>> {
  readonly eventId?: string;
  /** One of the closed set; checked again at run time, as callers may cast. */
  readonly type: EventType;
  readonly schemaVersion?: number;
  readonly data: TData;
  readonly metadata: EventMetadata;
}

/** The part of an event a projection needs to fold it. */
export interface EventPayload extends GlobalPosition {
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly data: unknown;
  /** When it was appended: a key projection's clock for forgetting long-dead keys. */
  readonly occurredAt: string;
}

/**
 * One page of a global read: the authentic events, the rows refused (already reported to the
 * store's rejection sink), and where the page ended. A reader pages on from `end`, not from
 * its last event, so it moves past a refused row instead of reading it again forever.
 */
export interface EventPage<T> {
  readonly events: T[];
  readonly rejected: EventRejection[];
  /** The position of the page's last row, authentic or not; undefined when nothing was read. */
  readonly end: GlobalPosition | undefined;
  /** Rows read (events and refused rows): fewer than the limit means the page reached the end. */
  readonly rows: number;
}

export interface AppendedEvent extends GlobalPosition {
  readonly eventId: string;
  readonly streamVersion: number;
}

export interface AppendResult {
  readonly streamId: string;
  /** The stream's version after the append: pass it as expectedVersion next time. */
  readonly nextExpectedVersion: number;
  readonly events: readonly AppendedEvent[];
  /** True when every event id was already stored by an identical earlier append. */
  readonly alreadyStored: boolean;
}

/** The store head a relay heartbeat announces, and the read's snapshot bounds: see PostgresEventStore.heartbeatHead. */
export interface HeartbeatHead {
  readonly head: GlobalPosition;
  readonly heldBack: boolean;
  readonly horizon: bigint;
  readonly snapshotEnd: bigint;
}

export interface EventStoreOptions {
  readonly clock?: () => Date;
  readonly newEventId?: () => string;
  /** Largest batch accepted by one append. */
  readonly maxBatchSize?: number;
}

/** Before any event: a stream that must not exist yet is appended with this version. */
export const NO_STREAM = 0;

/**
 * Events after ($1, $2) below the snapshot horizon, optionally of one category ($4), in
 * (transaction_id, position) order, at most $3. See readAll for why the horizon matters.
 */
const AFTER_POSITION_IN_ORDER = `where (transaction_id, position) > ($1::xid8, $2::bigint)
          and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          and ($4::text[] is null or split_part(stream_id, '-', 1) = any($4::text[]))
        order by events.transaction_id, events.position
        limit $3`;

/** The categories to filter on as a query parameter (null: all), each checked to be one. */
function categoryList(category: string | readonly string[] | undefined): string[] | null {
  if (category === undefined) return null;
  const categories = typeof category === 'string' ? [category] : [...category];
  for (const name of categories) if (!/^[a-z][a-z0-9]{0,39}$/.test(name)) throw new InvalidEventError(`invalid stream category ${JSON.stringify(name)}`);
  return categories;
}

const UNIQUE_VIOLATION = '23505';

/**
 * The append-only event store: the source of truth every projection is rebuilt from.
 *
 * Appends are optimistic (an expected stream version), idempotent by event id and hash
 * chained per stream. Global readers page by (transaction_id, position) and never read
 * past the oldest transaction still running, so a late commit cannot be skipped.
 *
 * Every event is written with a MAC under the event key (`KEYLEDGER_EVENT_KEYS`), and every
 * read checks it and the data's schema: a row written without the key (SQL) is never returned
 * as an event. Global reads list it in the page's `rejected`, stream reads throw
 * `EventIntegrityError`, and both report it to the rejection sink.
 */
export class PostgresEventStore {
  private readonly clock: () => Date;
  private readonly makeEventId: () => string;
  private readonly maxBatchSize: number;
  /** The newest row checked authentic, and its row version (xmin): see authenticHeadPosition. */
  private checkedHead: (GlobalPosition & { readonly rowVersion: string }) | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly auth: EventAuthentication,
    options: EventStoreOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.makeEventId = options.newEventId ?? newEventId;
    this.maxBatchSize = options.maxBatchSize ?? 1000;
  }

  /**
   * Appends events to one stream if it is at `expectedVersion` (NO_STREAM for a new one).
   * Throws ConcurrencyConflictError when it is not, and writes nothing.
   *
   * Traced: the append is a span of the caller's trace, and while tracing is on each event's
   * metadata records that span as its `traceparent`/`tracestate` (replacing any given), so the
   * relay and every consumer continue the trace from the store. Without tracing the metadata
   * is stored as given.
   */
  async append(streamId: string, expectedVersion: number, events: readonly NewEvent[]): Promise<AppendResult> {
    return inSpan(
      'append events',
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          'db.system.name': 'postgresql',
          'db.operation.name': 'append',
          'keyledger.stream.id': streamId,
          'keyledger.stream.expected_version': expectedVersion,
          'keyledger.event.count': events.length,
        },
      },
      async (span) => {
        const trace = traceContextFields();
        const traced = trace.traceparent ? events.map((event) => ({ ...event, metadata: withTraceContext(event.metadata, trace) })) : events;
        const result = await this.appendEvents(streamId, expectedVersion, traced);
        span.setAttributes({ 'keyledger.stream.version': result.nextExpectedVersion, 'keyledger.event.already_stored': result.alreadyStored });
        return result;
      },
    );
  }

  private async appendEvents(streamId: string, expectedVersion: number, events: readonly NewEvent[]): Promise<AppendResult> {
    const prepared = this.validate(streamId, expectedVersion, events);
    const head = await this.readHead(streamId, prepared);
    if (head.replay) return head.replay;
    if (head.version !== expectedVersion) throw new ConcurrencyConflictError(streamId, expectedVersion, head.version);
    try {
      return await this.insert(streamId, expectedVersion, head.hash, prepared);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // A concurrent writer won the race: either it stored these very events (a retry that
      // crossed with the original) or it took the version we wanted. Nothing of ours was written.
      const after = await this.readHead(streamId, prepared);
      if (after.replay) return after.replay;
      throw new ConcurrencyConflictError(streamId, expectedVersion, after.version);
    }
  }

  /**
   * The events of one stream from a version on, in stream order. Throws EventIntegrityError
   * when a row fails its check: a stream with a hole cannot be folded, so nothing acts on it.
   */
  async readStream(streamId: string, fromVersion = 1): Promise<EventEnvelope[]> {
    const rows = await this.dataSource.query<EventRow[]>(
      `select ${SELECT_EVENT} from events where stream_id = $1 and stream_version >= $2 order by stream_version`,
      [streamId, fromVersion],
    );
    const { events, rejected } = this.check(rows);
    const first = rejected[0];
    if (first) throw new EventIntegrityError(streamId, first.streamVersion, first.position, `${first.reason}: ${first.detail}`);
    return events;
  }

  /**
   * The events with these ids (in no particular order; an id the store does not hold is left
   * out). Throws EventIntegrityError when a row fails its check, as readStream does.
   */
  async readEvents(eventIds: readonly string[]): Promise<EventEnvelope[]> {
    if (eventIds.length === 0) return [];
    const rows = await this.dataSource.query<EventRow[]>(`select ${SELECT_EVENT} from events where event_id = any($1::uuid[])`, [eventIds]);
    return this.checked(rows);
  }

  /** The first event of each of these streams (the one that names its tenant and owner); a stream with none is left out. */
  async readFirstEvents(streamIds: readonly string[]): Promise<EventEnvelope[]> {
    if (streamIds.length === 0) return [];
    const rows = await this.dataSource.query<EventRow[]>(`select ${SELECT_EVENT} from events where stream_id = any($1::text[]) and stream_version = 1`, [
      streamIds,
    ]);
    return this.checked(rows);
  }

  private checked(rows: readonly EventRow[]): EventEnvelope[] {
    const { events, rejected } = this.check(rows);
    const first = rejected[0];
    if (first) throw new EventIntegrityError(first.streamId ?? 'unknown', first.streamVersion, first.position, `${first.reason}: ${first.detail}`);
    return events;
  }

  /** The stream's current version; NO_STREAM when it has no events. */
  async streamVersion(streamId: string): Promise<number> {
    const [row] = await this.dataSource.query<
      {
        version: number;
      }[]
    >(`select coalesce(max(stream_version), 0) as version from events where stream_id = $1`, [streamId]);
    return row?.version ?? NO_STREAM;
  }

  /**
   * Up to `limit` events after `after`, in (transaction_id, position) order, stopping below
   * the oldest transaction still in progress. A transaction that began earlier but commits
   * later has a smaller id, so it is read before anything after it, never skipped.
   * With `category`, only streams of that category (`key` for `key-…`) or categories.
   */
  async readAll(after: GlobalPosition, limit = 500, category?: string | readonly string[]): Promise<EventPage<EventEnvelope>> {
    const rows = await this.dataSource.query<EventRow[]>(
      `select ${SELECT_EVENT} from events
        ${AFTER_POSITION_IN_ORDER}`,
      [after.transactionId, after.position, limit, categoryList(category)],
    );
    const last = rows[rows.length - 1];
    return { ...this.check(rows), end: last && { transactionId: last.transaction_id, position: last.position }, rows: rows.length };
  }

  /**
   * Like readAll, but each event as only what a projection folds: position, stream, version,
   * type and data. The whole row is still read: its MAC covers all of it.
   */
  async readPayloads(after: GlobalPosition, limit: number, category?: string | readonly string[]): Promise<EventPage<EventPayload>> {
    const page = await this.readAll(after, limit, category);
    return {
      ...page,
      events: page.events.map((event) => ({
        transactionId: event.transactionId,
        position: event.position,
        streamId: event.streamId,
        streamVersion: event.streamVersion,
        type: event.type,
        data: event.data,
        occurredAt: event.occurredAt,
      })),
    };
  }

  /** Splits rows read into authentic events and refused rows, reporting each refusal. */
  private check(rows: readonly EventRow[]): { events: EventEnvelope[]; rejected: EventRejection[] } {
    const events: EventEnvelope[] = [];
    const rejected: EventRejection[] = [];
    for (const row of rows) {
      const checked = checkStoredRow(this.auth.authenticator, row);
      if (checked.event) {
        events.push(checked.event);
        continue;
      }
      rejected.push(checked.rejection);
      this.auth.rejections.reject(checked.rejection);
    }
    return { events, rejected };
  }

  /** How many readable events lie after `after`, counting at most `cap` of them. */
  async countAfter(after: GlobalPosition, cap: number): Promise<number> {
    const [row] = await this.dataSource.query<{ count: number }[]>(
      `select count(*)::int as count from (
         select 1 from events
          where (transaction_id, position) > ($1::xid8, $2::bigint)
            and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          limit $3) as pending`,
      [after.transactionId, after.position, cap],
    );
    return row?.count ?? 0;
  }

  /**
   * Whether any committed event lies after `after`, readable or not yet: one past the horizon
   * (an older transaction still running) is not readable, though its commit has notified.
   */
  async hasCommittedAfter(after: GlobalPosition): Promise<boolean> {
    const [row] = await this.dataSource.query<{ found: boolean }[]>(
      `select exists (select 1 from events where (transaction_id, position) > ($1::xid8, $2::bigint)) as found`,
      [after.transactionId, after.position],
    );
    return row?.found === true;
  }

  /** The newest position a reader could reach now, or undefined for an empty store. */
  async headPosition(): Promise<GlobalPosition | undefined> {
    const [row] = await this.dataSource.query<{ transaction_id: string; position: string }[]>(
      `select transaction_id::text, position::text from events
        where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        order by events.transaction_id desc, events.position desc limit 1`,
    );
    return row ? { transactionId: row.transaction_id, position: row.position } : undefined;
  }

  /**
   * The newest authentic event's position a reader could reach now: what the relay publishes and
   * projections can apply. A row inserted without the event key past it is passed over (it is
   * never published, so no projection could ever reach it); undefined when none of the newest
   * `scan` rows is authentic, or the store is empty. Refusals are not reported: this is read
   * every second, and the readers that meet such a row report it.
   */
  async authenticHeadPosition(scan = 100): Promise<GlobalPosition | undefined> {
    return (await this.heartbeatHead(scan))?.head;
  }

  /**
   * The authentic head (see authenticHeadPosition), with what the snapshot it was read in says of
   * the transactions around it, all read in one statement:
   * - `heldBack`: an event already committed lies past the head, held back behind the horizon by
   *   an older transaction still running. When false, every event committed before the read is
   *   at or below `head`; when true, that claim would be false (a revocation committed a moment
   *   ago would be missing from a projection that applied `head`).
   * - `horizon` (the snapshot's xmin): every transaction below it had ended.
   * - `snapshotEnd` (its xmax): every transaction committed when it was taken is below it. So an
   *   earlier read whose `snapshotEnd` is at most a later read's `horizon` saw nothing committed
   *   that the later head does not cover.
   */
  async heartbeatHead(scan = 100): Promise<HeartbeatHead | undefined> {
    // While the newest row is the very row version checked last time (its position and its xmin:
    // an update, or a delete and insert again with the trigger off, makes another), only that is
    // read; its MAC was checked and it has not changed since.
    const [newest] = await this.dataSource.query<
      { transaction_id: string; position: string; row_version: string; held_back: boolean; horizon: string; snapshot_end: string }[]
    >(
      `select transaction_id::text, position::text, xmin::text as row_version,
              exists (select 1 from events where transaction_id >= pg_snapshot_xmin(pg_current_snapshot())) as held_back,
              pg_snapshot_xmin(pg_current_snapshot())::text as horizon, pg_snapshot_xmax(pg_current_snapshot())::text as snapshot_end
         from events
        where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        order by events.transaction_id desc, events.position desc limit 1`,
    );
    if (!newest) return undefined;
    const snapshot = { heldBack: newest.held_back, horizon: BigInt(newest.horizon), snapshotEnd: BigInt(newest.snapshot_end) };
    const checked = this.checkedHead;
    if (checked && checked.rowVersion === newest.row_version && checked.transactionId === newest.transaction_id && checked.position === newest.position)
      return { head: { transactionId: checked.transactionId, position: checked.position }, ...snapshot };
    // The newest row is nearly always authentic: read it alone first, and the rest only if it is
    // not. These reads may see a later snapshot; its head is the same or newer, and a head read
    // later still covers every event committed before the first read.
    const first = await this.newestRows(1);
    const rows = first.length === 1 && !this.isAuthentic(first[0]!) ? await this.newestRows(scan) : first;
    const authentic = rows.find((row) => this.isAuthentic(row));
    const found = authentic && { transactionId: authentic.transaction_id, position: authentic.position };
    this.checkedHead = found && authentic === rows[0] ? { ...found, rowVersion: authentic.row_version } : undefined;
    return found && { head: found, ...snapshot };
  }

  private newestRows(count: number): Promise<(EventRow & { row_version: string })[]> {
    return this.dataSource.query<(EventRow & { row_version: string })[]>(
      `select ${SELECT_EVENT}, events.xmin::text as row_version from events
        where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        order by events.transaction_id desc, events.position desc limit $1`,
      [count],
    );
  }

  private isAuthentic(row: EventRow): boolean {
    return checkStoredRow(this.auth.authenticator, row).event !== undefined;
  }

  private validate(streamId: string, expectedVersion: number, events: readonly NewEvent[]): PreparedEvent[] {
    if (!isStreamId(streamId)) throw new InvalidEventError(`invalid stream id ${JSON.stringify(streamId)}: expected <category>-<id>`);
    if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)
      throw new InvalidEventError(`expected version must be an integer >= 0, got ${expectedVersion}`);
    if (events.length === 0) throw new InvalidEventError('an append needs at least one event');
    if (events.length > this.maxBatchSize) throw new InvalidEventError(`an append takes at most ${this.maxBatchSize} events, got ${events.length}`);
    const occurredAt = this.clock().toISOString();
    const prepared = events.map((event, index) => prepareEvent(event, index, occurredAt, this.makeEventId));
    if (new Set(prepared.map((event) => event.eventId)).size !== prepared.length) throw new InvalidEventError('event ids within one append must be distinct');
    return prepared;
  }

  /**
   * The stream's head and any already-stored copies of the batch's event ids, in one round
   * trip. Idempotency: when every id is already stored in this stream the append was done
   * before and is answered as then; a partial or cross-stream match is a conflict.
   */
  private async readHead(streamId: string, events: readonly PreparedEvent[]): Promise<{ version: number; hash: Buffer; replay?: AppendResult }> {
    const [row] = await this.dataSource.query<{ version: number | null; hash: Buffer | null; existing: StoredIdRow[] }[]>(
      `select head.stream_version as version, head.hash,
              coalesce((select json_agg(json_build_object('event_id', e.event_id, 'stream_id', e.stream_id, 'stream_version', e.stream_version,
                                                         'position', e.position::text, 'transaction_id', e.transaction_id::text,
                                                         'type', e.type, 'data', e.data)
                                        order by e.stream_version)
                          from events e where e.event_id = any($2::uuid[])), '[]'::json) as existing
         from (select 1) as one
         left join lateral (select stream_version, hash from events where stream_id = $1 order by stream_version desc limit 1) as head on true`,
      [streamId, events.map((event) => event.eventId)],
    );
    const version = row?.version ?? NO_STREAM;
    const hash = row?.hash ?? GENESIS_HASH;
    const existing = row?.existing ?? [];
    if (existing.length === 0) return { version, hash };
    // A replay is the very same batch: same stream, same order, contiguous, same content.
    // Anything else reusing these ids is a conflict, never a silent success.
    const sameBatch =
      existing.length === events.length &&
      existing.every(
        (stored, i) =>
          stored.stream_id === streamId &&
          stored.event_id === events[i]!.eventId &&
          stored.stream_version === existing[0]!.stream_version + i &&
          stored.type === events[i]!.type &&
          canonicalize(stored.data) === canonicalize(events[i]!.data),
      );
    if (!sameBatch) throw new EventIdConflictError(existing.map((stored) => stored.event_id));
    return {
      version,
      hash,
      replay: {
        streamId,
        nextExpectedVersion: existing[existing.length - 1]?.stream_version ?? NO_STREAM,
        alreadyStored: true,
        events: existing.map(toAppended),
      },
    };
  }

  /**
   * One INSERT, atomic on its own: no surrounding transaction is needed because the unique
   * (stream_id, stream_version) index rejects the whole statement if the head moved since
   * it was read, and an earlier event's hash never changes.
   */
  private async insert(streamId: string, expectedVersion: number, headHash: Buffer, events: readonly PreparedEvent[]): Promise<AppendResult> {
    let previousHash = headHash;
    const values: unknown[] = [];
    const tuples = events.map((event, index) => {
      const streamVersion = expectedVersion + index + 1;
      previousHash = eventHash(previousHash, { ...event, streamId, streamVersion });
      const mac = this.auth.authenticator.sealStored({ ...event, streamId, streamVersion });
      const base = index * 11;
      values.push(
        event.eventId,
        streamId,
        streamVersion,
        event.type,
        event.schemaVersion,
        JSON.stringify(event.data),
        JSON.stringify(event.metadata),
        event.occurredAt,
        previousHash,
        mac.version,
        mac.mac,
      );
      return `(${Array.from({ length: 11 }, (_, column) => `$${base + column + 1}`).join(', ')})`;
    });
    const inserted = await this.dataSource.query<StoredIdRow[]>(
      `insert into events (event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash, auth_version, auth_mac)
       values ${tuples.join(', ')}
       returning event_id::text, stream_id, stream_version, position::text, transaction_id::text`,
      values,
    );
    return {
      streamId,
      nextExpectedVersion: expectedVersion + events.length,
      alreadyStored: false,
      events: inserted.sort((a, b) => a.stream_version - b.stream_version).map(toAppended),
    };
  }
}

interface StoredIdRow {
  event_id: string;
  type?: string;
  data?: unknown;
  stream_id: string;
  stream_version: number;
  position: string;
  transaction_id: string;
}

const toAppended = (row: StoredIdRow): AppendedEvent => ({
  eventId: row.event_id,
  streamVersion: row.stream_version,
  position: row.position,
  transactionId: row.transaction_id,
});

interface PreparedEvent {
  readonly eventId: string;
  readonly type: EventType;
  readonly schemaVersion: number;
  readonly data: unknown;
  readonly metadata: EventMetadata;
  readonly occurredAt: string;
}

function prepareEvent(event: NewEvent, index: number, occurredAt: string, makeEventId: () => string): PreparedEvent {
  const where = `event #${index}`;
  const eventId = event.eventId ?? makeEventId();
  if (!eventIdSchema.safeParse(eventId).success)
    throw new InvalidEventError(`${where}: event id must be a lowercase RFC 9562 UUID, got ${JSON.stringify(eventId)}`);
  if (!isEventType(event.type)) throw new InvalidEventError(`${where}: ${JSON.stringify(event.type)} is not an event type Keyledger records (EVENT_TYPES)`);
  const schemaVersion = event.schemaVersion ?? 1;
  if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1) throw new InvalidEventError(`${where}: schema version must be a positive integer`);
  if (typeof event.data !== 'object' || event.data === null || Array.isArray(event.data)) throw new InvalidEventError(`${where}: data must be a JSON object`);
  const metadata = eventMetadataSchema.safeParse(event.metadata);
  if (!metadata.success)
    throw new InvalidEventError(`${where}: invalid metadata: ${metadata.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`);
  // Round-trip through JSON so the hash covers exactly what jsonb will hold (no undefined,
  // no Dates, no functions), refusing what jsonb or canonical JSON cannot hold: NUL
  // characters and lone surrogates.
  let data: unknown;
  let size: number;
  try {
    const text = JSON.stringify(event.data, (_key, value: unknown) => {
      if (typeof value === 'string' && value.includes('\u0000')) throw new InvalidEventError(`${where}: data must not contain NUL characters`);
      return value;
    });
    data = JSON.parse(text);
    // In bytes of UTF-8, as NATS measures the message the event travels in.
    size = Buffer.byteLength(canonicalize(data) ?? '') + Buffer.byteLength(JSON.stringify(metadata.data));
  } catch (error) {
    if (error instanceof InvalidEventError) throw error;
    throw new InvalidEventError(`${where}: data is not serialisable as JSON (${(error as Error).message})`);
  }
  if (size > MAX_EVENT_BYTES) throw new InvalidEventError(`${where}: event is ${size} bytes of JSON; the limit is ${MAX_EVENT_BYTES}`);
  // Every read refuses data not of its type's shape, so the store never writes any.
  const problem = checkEventData(event.type, schemaVersion, data);
  if (problem) throw new InvalidEventError(`${where}: ${problem.message}`);
  return { eventId, type: event.type, schemaVersion, data, metadata: metadata.data, occurredAt };
}

function withTraceContext(metadata: EventMetadata, trace: { traceparent?: string; tracestate?: string }): EventMetadata {
  const { traceparent: _traceparent, tracestate: _tracestate, ...rest } = metadata;
  return { ...rest, ...trace };
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: string } | undefined)?.code === UNIQUE_VIOLATION;
}
