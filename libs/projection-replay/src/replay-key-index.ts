import type { DataSource } from 'typeorm';
import type { GlobalPosition } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG, compareGlobalPositions } from '@keyledger/event-store';
import type { KeyRecord } from '@keyledger/key-domain';
import {
  KEY_INDEX_SNAPSHOT_FORMAT,
  KEY_PROJECTION_CATEGORIES,
  KEY_PROJECTION_SNAPSHOT,
  KeyIndex,
  ProjectionSnapshotStore,
  decodeKeyIndex,
  snapshotContext,
} from '@keyledger/key-projection';
import type { SnapshotSeal } from '@keyledger/key-secrets';
import type { ReplayDifference, ReplayProgress, ReplayReport } from './replay-report.js';
import { MAX_LISTED_DIFFERENCES } from './replay-report.js';

/** The live key index could not be read: the report says why instead of comparing. */
export class SnapshotUnusableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotUnusableError';
  }
}

const PAGE = 20_000;

/**
 * Rebuilds the key index (what verifiers, the issuer and the auditor hold in memory) from
 * position 0, with the same KeyIndex and the same pages of key and credits events the services
 * replay, and compares it key by key with the newest snapshot in the store: the index a
 * service restarting now would load. The rebuild stops at the snapshot's position, so both
 * stand at the same point. The snapshot's seal is checked first (a snapshot that does not
 * verify under the peppers is never compared, as no service would load it); without a
 * snapshot, the rebuild runs to the store's end and is only counted.
 */
export async function replayKeyIndex(db: DataSource, store: PostgresEventStore, seal: SnapshotSeal, progress?: ReplayProgress): Promise<ReplayReport> {
  const started = performance.now();
  const snapshot = await new ProjectionSnapshotStore(db).load(KEY_PROJECTION_SNAPSHOT);
  let live: KeyIndex | undefined;
  if (snapshot) {
    if (snapshot.format !== KEY_INDEX_SNAPSHOT_FORMAT)
      throw new SnapshotUnusableError(`the stored key index snapshot has format ${snapshot.format}, this keyledger reads ${KEY_INDEX_SNAPSHOT_FORMAT}`);
    if (!seal.verify(snapshot.body, snapshotContext(snapshot.format, snapshot.position), snapshot.seal))
      throw new SnapshotUnusableError(
        'the stored key index snapshot does not verify under these peppers (edited, or sealed with another pepper): no service loads it',
      );
    live = new KeyIndex();
    decodeKeyIndex(snapshot.body, live);
  }
  const replayed = new KeyIndex();
  const { events, refused } = await applyUpTo(db, store, replayed, snapshot?.position, progress);
  const seconds = (performance.now() - started) / 1000;
  const { differenceCount, differences } = live ? compareIndexes(live, replayed) : { differenceCount: 0, differences: [] };
  return {
    projection: 'key-index',
    comparedWith: snapshot
      ? `the stored snapshot at position ${snapshot.position.transactionId}:${snapshot.position.position}`
      : 'nothing: no snapshot is stored',
    events,
    refused,
    entries: replayed.size,
    notYetLive: 0,
    differenceCount,
    differences,
    ms: Math.round(performance.now() - started),
    eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : events,
  };
}

async function applyUpTo(
  db: DataSource,
  store: PostgresEventStore,
  index: KeyIndex,
  until: GlobalPosition | undefined,
  progress: ReplayProgress | undefined,
): Promise<{ events: number; refused: number }> {
  const [total] = await db.query<{ n: string }[]>(`select count(*)::text as n from events where split_part(stream_id, '-', 1) = any($1::text[])`, [
    KEY_PROJECTION_CATEGORIES,
  ]);
  let events = 0;
  let refused = 0;
  let next = store.readPayloads(START_OF_LOG, PAGE, KEY_PROJECTION_CATEGORIES);
  for (;;) {
    const page = await next;
    if (!page.end) break;
    // The next page is read while this one is applied, as the services' catch-up does, so Postgres and this process work at the same time.
    next =
      page.rows < PAGE ? Promise.resolve({ events: [], rejected: [], end: undefined, rows: 0 }) : store.readPayloads(page.end, PAGE, KEY_PROJECTION_CATEGORIES);
    // Awaited on the next turn, or left when the snapshot's position is reached: never an unhandled rejection meanwhile.
    next.catch(() => undefined);
    refused += page.rows - page.events.length;
    for (const event of page.events) {
      if (until && compareGlobalPositions(event, until) > 0) return { events, refused };
      index.apply(event);
      events += 1;
    }
    progress?.(events, Number(total?.n ?? events));
  }
  return { events, refused };
}

/**
 * Every field of a KeyRecord, compared: the compiler makes a field added to KeyRecord be added
 * here. `ipRanges` is left out as what `ipAllowlist` parses to (addresses as objects).
 */
const COMPARED_FIELDS: { readonly [K in keyof Required<KeyRecord>]: K extends 'ipRanges' ? false : true } = {
  keyId: true,
  tenant: true,
  owner: true,
  name: true,
  environment: true,
  prefix: true,
  digest: true,
  hint: true,
  scopes: true,
  ipAllowlist: true,
  ipRanges: false,
  expiresAt: true,
  metadata: true,
  rateLimits: true,
  credits: true,
  rotatedFrom: true,
  rotation: true,
  status: true,
  leakReportedAt: true,
  honeytoken: true,
  version: true,
};

/** A key's record as compared: each field as JSON (the digest as hex). */
function comparable(record: KeyRecord): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [field, compared] of Object.entries(COMPARED_FIELDS))
    if (compared) fields[field] = JSON.stringify(record[field as keyof KeyRecord]) ?? 'undefined';
  return fields;
}

/** These fields (all by default) as values again, for the report. */
function shown(fields: Record<string, string>, names: readonly string[] = Object.keys(fields)): Record<string, unknown> {
  return Object.fromEntries(names.map((name) => [name, fields[name] === 'undefined' ? null : (JSON.parse(fields[name]!) as unknown)]));
}

function compareIndexes(live: KeyIndex, replayed: KeyIndex): { differenceCount: number; differences: ReplayDifference[] } {
  let differenceCount = 0;
  const differences: ReplayDifference[] = [];
  const note = (difference: ReplayDifference): void => {
    differenceCount += 1;
    if (differences.length < MAX_LISTED_DIFFERENCES) differences.push(difference);
  };
  for (const record of replayed.all()) {
    const other = live.get(record.keyId);
    if (!other) {
      note({ id: record.keyId, kind: 'missing-live', replayed: shown(comparable(record)) });
      continue;
    }
    const mine = comparable(record);
    const theirs = comparable(other);
    const fields = Object.keys(mine).filter((field) => mine[field] !== theirs[field]);
    if (fields.length > 0) note({ id: record.keyId, kind: 'field', fields, live: shown(theirs, fields), replayed: shown(mine, fields) });
  }
  for (const record of live.all()) if (!replayed.get(record.keyId)) note({ id: record.keyId, kind: 'missing-replayed', live: shown(comparable(record)) });
  return { differenceCount, differences };
}
