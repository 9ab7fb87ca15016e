import type { DataSource } from 'typeorm';
import type { GlobalPosition } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';

/**
 * Each sink's checkpoint in Postgres: the position of the last event it acknowledged. A new
 * sink starts at the beginning of the log. A move is compare-and-set on the position it
 * started from, so two exporters of one sink (two auditor replicas) never move it backwards.
 */
export class SiemExportCheckpoints {
  constructor(private readonly db: DataSource) {}

  async read(sink: string): Promise<GlobalPosition> {
    const rows = await this.db.query<{ transaction_id: string; position: string }[]>(
      `select transaction_id::text as transaction_id, position::text as position from siem_export_checkpoints where sink = $1`,
      [sink],
    );
    const row = rows[0];
    return row ? { transactionId: row.transaction_id, position: row.position } : START_OF_LOG;
  }

  /** Moves the sink's checkpoint from `from` to `to`; false when it was no longer at `from`. */
  async advance(sink: string, from: GlobalPosition, to: GlobalPosition, exported: number): Promise<boolean> {
    const rows = await this.db.query<unknown[]>(
      `insert into siem_export_checkpoints as c (sink, transaction_id, position, exported)
       values ($1, $4::xid8, $5, $6)
       on conflict (sink) do update set transaction_id = excluded.transaction_id, position = excluded.position,
         exported = c.exported + excluded.exported, updated_at = now()
         where (c.transaction_id, c.position) = ($2::xid8, $3::bigint)
       returning sink`,
      [sink, from.transactionId, from.position, to.transactionId, to.position, exported],
    );
    return rows.length === 1;
  }
}
