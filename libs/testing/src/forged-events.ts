import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { EventMetadata } from '@keyledger/contracts';
import { GENESIS_HASH, eventHash } from '@keyledger/event-store';
import { newEventId } from '@keyledger/ids';
import { testMetadata } from './test-events.js';

/** What a forger puts in the events table by SQL. */
export interface ForgedRow {
  readonly streamId: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly metadata?: EventMetadata;
  readonly eventId?: string;
}

/** The MAC a forger without the event key can write: none, random bytes, or one made with another key version it guessed. */
export type ForgedMac = 'none' | 'garbage' | 'unknown-version';

/**
 * Inserts an event row by SQL, as someone with database access but without the event key
 * would: the next version of the stream, its hash chained correctly onto the stream's head
 * (so the hash chain alone cannot tell), and no MAC or a made-up one.
 */
export async function insertEventBySql(db: DataSource, row: ForgedRow, mac: ForgedMac): Promise<{ eventId: string; streamVersion: number; position: string }> {
  const [head] = await db.query<{ version: number; hash: Buffer }[]>(
    `select stream_version as version, hash from events where stream_id = $1 order by stream_version desc limit 1`,
    [row.streamId],
  );
  const streamVersion = (head?.version ?? 0) + 1;
  const eventId = row.eventId ?? newEventId();
  const occurredAt = new Date().toISOString();
  const metadata = row.metadata ?? testMetadata({ actor: 'admin:forger' });
  const hash = eventHash(head?.hash ?? GENESIS_HASH, { eventId, streamId: row.streamId, streamVersion, type: row.type, schemaVersion: 1, occurredAt, data: row.data, metadata });
  const [version, bytes] = mac === 'none' ? [null, null] : mac === 'garbage' ? [1, randomBytes(32)] : [9999, randomBytes(32)];
  const [inserted] = await db.query<{ position: string }[]>(
    `insert into events (event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash, auth_version, auth_mac)
     values ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10) returning position::text`,
    [eventId, row.streamId, streamVersion, row.type, JSON.stringify(row.data), JSON.stringify(metadata), occurredAt, hash, version, bytes],
  );
  return { eventId, streamVersion, position: inserted!.position };
}
