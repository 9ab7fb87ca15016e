import { randomBytes } from 'node:crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import { AuditTrailProjection } from '@keyledger/audit-trail';
import type { GlobalPosition } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG, assertIdentifier, compareGlobalPositions } from '@keyledger/event-store';
import type { ReplayDifference, ReplayProgress, ReplayReport } from './replay-report.js';
import { MAX_LISTED_DIFFERENCES } from './replay-report.js';

/** The columns compared: every one the projection writes (`recorded_at` is when, not what). */
const TRAIL_COLUMNS = [
  'transaction_id',
  'position',
  'stream_id',
  'stream_version',
  'type',
  'tenant',
  'owner',
  'actor',
  'correlation_id',
  'causation_id',
  'trace_id',
  'occurred_at',
] as const;

type TrailRow = Record<(typeof TRAIL_COLUMNS)[number], unknown>;

const PAGE = 2000;

/**
 * Rebuilds the audit trail from position 0 into a scratch schema of its own (the live table is
 * not touched), with the auditor's own AuditTrailProjection over the store's events (each
 * read with its MAC checked; refused rows are counted, never applied), then compares it with
 * the live `audit_trail` row by row and drops the scratch schema. Rows the live trail lacks
 * past both the newest event it holds and its consumer's checkpoint are the auditor running behind, counted apart.
 */
export async function replayAuditTrail(db: DataSource, store: PostgresEventStore, schema: string, progress?: ReplayProgress): Promise<ReplayReport> {
  const live = assertIdentifier(schema, 'schema');
  const scratch = assertIdentifier(`keyledger_replay_${randomBytes(6).toString('hex')}`, 'scratch schema');
  const started = performance.now();
  const runner = db.createQueryRunner();
  await runner.connect();
  try {
    await runner.query(`create schema ${scratch}`);
    // A plain table with the live one's columns, primary key and indexes (LIKE does not copy partitioning): the
    // replay fills it once and compares it whole, which partitions would not speed up.
    await runner.query(`create table ${scratch}.audit_trail (like ${live}.audit_trail including all)`);
    // The projection names its table and the store's without a schema: the scratch table first, the live store behind it.
    await runner.query(`set search_path = ${scratch}, ${live}`);
    const { events, refused } = await applyAll(runner, store, progress);
    const replayedAt = performance.now();
    const { differences, notYetLive, listed } = await compare(runner, live, scratch);
    const [count] = await select<{ n: string }>(runner, `select count(*)::text as n from ${scratch}.audit_trail`);
    const seconds = (replayedAt - started) / 1000;
    return {
      projection: 'audit-trail',
      comparedWith: `the live ${live}.audit_trail table`,
      events,
      refused,
      entries: Number(count?.n ?? 0),
      notYetLive,
      differenceCount: differences,
      differences: listed,
      ms: Math.round(performance.now() - started),
      eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : events,
    };
  } finally {
    await runner.query(`reset search_path`).catch(() => undefined);
    await runner.query(`drop schema if exists ${scratch} cascade`).catch(() => undefined);
    await runner.release();
  }
}

async function applyAll(runner: QueryRunner, store: PostgresEventStore, progress: ReplayProgress | undefined): Promise<{ events: number; refused: number }> {
  const projection = new AuditTrailProjection();
  const [total] = await select<{ n: string }>(runner, `select count(*)::text as n from events`);
  let position: GlobalPosition = START_OF_LOG;
  let events = 0;
  let refused = 0;
  for (;;) {
    const page = await store.readAll(position, PAGE);
    if (!page.end) break;
    refused += page.rows - page.events.length;
    await runner.startTransaction();
    try {
      for (const event of page.events) await projection.apply(event, runner);
      await runner.commitTransaction();
    } catch (error) {
      await runner.rollbackTransaction();
      throw error;
    }
    events += page.events.length;
    position = page.end;
    progress?.(events, Number(total?.n ?? events));
  }
  return { events, refused };
}

async function compare(runner: QueryRunner, live: string, scratch: string): Promise<{ differences: number; notYetLive: number; listed: ReplayDifference[] }> {
  const columns = TRAIL_COLUMNS.join(', ');
  // How far the live trail has got: its newest row, or its consumer's checkpoint when that is further (rows deleted
  // from the end of the trail are then differences, not lag).
  const [newest] = await select<{ transaction_id: string; position: string }>(
    runner,
    `select transaction_id::text, position::text from (
       select transaction_id, position from ${live}.audit_trail
       union all
       select transaction_id, position from ${live}.consumer_checkpoints where consumer = $1
     ) as applied order by transaction_id desc, position desc limit 1`,
    [DURABLE_CONSUMER_NAMES.auditTrail],
  );
  const rows = await select<{ id: string; live: TrailRow | null; replayed: TrailRow | null }>(runner, 
    `select coalesce(l.event_id, r.event_id)::text as id,
            case when l.event_id is null then null else to_jsonb(l) - 'event_id' end as live,
            case when r.event_id is null then null else to_jsonb(r) - 'event_id' end as replayed
       from (select event_id, ${columns} from ${live}.audit_trail) l
       full join (select event_id, ${columns} from ${scratch}.audit_trail) r on l.event_id = r.event_id
      where l.event_id is null or r.event_id is null or (to_jsonb(l) is distinct from to_jsonb(r))
      order by coalesce(r.transaction_id, l.transaction_id), coalesce(r.position, l.position)`,
  );
  let differences = 0;
  let notYetLive = 0;
  const listed: ReplayDifference[] = [];
  const note = (difference: ReplayDifference): void => {
    differences += 1;
    if (listed.length < MAX_LISTED_DIFFERENCES) listed.push(difference);
  };
  for (const row of rows) {
    if (row.live === null && row.replayed !== null) {
      if (newest === undefined || isAfter(row.replayed, newest)) notYetLive += 1;
      else note({ id: row.id, kind: 'missing-live', replayed: row.replayed });
    } else if (row.replayed === null) note({ id: row.id, kind: 'missing-replayed', live: row.live });
    else {
      const fields = TRAIL_COLUMNS.filter((column) => JSON.stringify(row.live?.[column]) !== JSON.stringify(row.replayed?.[column]));
      note({ id: row.id, kind: 'field', fields, live: pick(row.live!, fields), replayed: pick(row.replayed, fields) });
    }
  }
  return { differences, notYetLive, listed };
}

function isAfter(row: TrailRow, newest: { transaction_id: string; position: string }): boolean {
  return compareGlobalPositions({ transactionId: String(row.transaction_id), position: String(row.position) }, { transactionId: newest.transaction_id, position: newest.position }) > 0;
}

function pick(row: TrailRow, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((field) => [field, row[field as keyof TrailRow]]));
}

/** Rows of a query on this connection (a QueryRunner's query is untyped). */
async function select<T>(runner: QueryRunner, sql: string, parameters: unknown[] = []): Promise<T[]> {
  return (await runner.query(sql, parameters)) as T[];
}
