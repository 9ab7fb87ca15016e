import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { GlobalPosition } from '@keyledger/contracts';
import { compareGlobalPositions } from '@keyledger/event-store';
import type { Seal } from '@keyledger/key-secrets';

/** A projection's state as of a position in the store, sealed by its maker. */
export interface ProjectionSnapshot {
  readonly format: number;
  readonly position: GlobalPosition;
  readonly seal: Seal;
  readonly body: Buffer;
}

/** Where a snapshot stands, without its bytes. */
export interface SnapshotInfo {
  readonly format: number;
  readonly position: GlobalPosition;
  readonly takenAt: Date;
  readonly byteLength: number;
}

interface HeaderRow {
  snapshot_id: string;
  format: number;
  transaction_id: string;
  position: string;
  byte_length: string;
  pepper_version: number;
  mac: Buffer;
  taken_at: Date;
}

const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Keeps the newest snapshot of each projection in Postgres. Saving is atomic and only ever
 * moves forward: a snapshot older than the stored one is dropped, so replicas that save
 * at once cannot roll each other back.
 */
export class ProjectionSnapshotStore {
  constructor(
    private readonly db: DataSource,
    private readonly chunkBytes = DEFAULT_CHUNK_BYTES,
  ) {}

  async info(projection: string): Promise<SnapshotInfo | undefined> {
    const header = await this.header(this.db.manager, projection);
    return header && toInfo(header);
  }

  /** The newest snapshot, read in one consistent view (a concurrent save cannot tear it). */
  async load(projection: string): Promise<ProjectionSnapshot | undefined> {
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction('REPEATABLE READ');
      const header = await this.header(runner.manager, projection);
      if (!header) return undefined;
      const chunks = (await runner.query(`select data from projection_snapshot_chunks where snapshot_id = $1 order by seq`, [header.snapshot_id])) as {
        data: Buffer;
      }[];
      await runner.commitTransaction();
      return {
        format: header.format,
        position: { transactionId: header.transaction_id, position: header.position },
        seal: { pepperVersion: header.pepper_version, mac: header.mac },
        body: Buffer.concat(chunks.map((chunk) => chunk.data)),
      };
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  }

  /** Stores a snapshot unless one at the same or a later position is there; true if stored. */
  async save(projection: string, snapshot: ProjectionSnapshot): Promise<boolean> {
    return this.db.transaction(async (manager) => {
      // One saver per projection at a time; readers are not blocked.
      await manager.query(`select pg_advisory_xact_lock(hashtext('keyledger-snapshot:' || $1))`, [projection]);
      const current = await this.header(manager, projection);
      if (current && compareGlobalPositions(toInfo(current).position, snapshot.position) >= 0) return false;
      const snapshotId = randomUUID();
      for (let seq = 0, offset = 0; offset < snapshot.body.length || seq === 0; seq += 1, offset += this.chunkBytes) {
        await manager.query(`insert into projection_snapshot_chunks (snapshot_id, seq, data) values ($1, $2, $3)`, [
          snapshotId,
          seq,
          snapshot.body.subarray(offset, offset + this.chunkBytes),
        ]);
      }
      await manager.query(
        `insert into projection_snapshots (projection, snapshot_id, format, transaction_id, position, byte_length, pepper_version, mac, taken_at)
         values ($1, $2, $3, $4::xid8, $5::bigint, $6, $7, $8, now())
         on conflict (projection) do update set snapshot_id = excluded.snapshot_id, format = excluded.format, transaction_id = excluded.transaction_id,
           position = excluded.position, byte_length = excluded.byte_length, pepper_version = excluded.pepper_version, mac = excluded.mac, taken_at = now()`,
        [
          projection,
          snapshotId,
          snapshot.format,
          snapshot.position.transactionId,
          snapshot.position.position,
          snapshot.body.length,
          snapshot.seal.pepperVersion,
          snapshot.seal.mac,
        ],
      );
      if (current) await manager.query(`delete from projection_snapshot_chunks where snapshot_id = $1`, [current.snapshot_id]);
      return true;
    });
  }

  private async header(manager: EntityManager, projection: string): Promise<HeaderRow | undefined> {
    const [row] = await manager.query<HeaderRow[]>(
      `select snapshot_id, format, transaction_id::text, position::text, byte_length::text, pepper_version, mac, taken_at
         from projection_snapshots where projection = $1`,
      [projection],
    );
    return row;
  }
}

function toInfo(row: HeaderRow): SnapshotInfo {
  return {
    format: row.format,
    position: { transactionId: row.transaction_id, position: row.position },
    takenAt: row.taken_at,
    byteLength: Number(row.byte_length),
  };
}
