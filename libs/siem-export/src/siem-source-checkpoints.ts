import type { DataSource } from 'typeorm';
import type { SiemSourceName, SourcePosition } from './siem-source.js';
import { START_OF_SOURCE } from './siem-source.js';

/**
 * Each sink's checkpoint per source (alerts, usage) in Postgres: the place of the last record it
 * acknowledged. A new sink starts before the first. A move is compare-and-set on the place it
 * started from, so two exporters of one sink never move it backwards.
 */
export class SiemSourceCheckpoints {
  constructor(private readonly db: DataSource) {}

  async read(sink: string, source: SiemSourceName): Promise<SourcePosition> {
    const rows = await this.db.query<{ transaction_id: string; batch_id: string; seq: number }[]>(
      `select transaction_id::text as transaction_id, batch_id, seq from siem_export_source_checkpoints where sink = $1 and source = $2`,
      [sink, source],
    );
    const row = rows[0];
    return row ? { transactionId: row.transaction_id, batchId: row.batch_id, seq: row.seq } : START_OF_SOURCE;
  }

  /** Moves the sink's checkpoint of `source` from `from` to `to`; false when it was no longer at `from`. */
  async advance(sink: string, source: SiemSourceName, from: SourcePosition, to: SourcePosition, exported: number): Promise<boolean> {
    const rows = await this.db.query<unknown[]>(
      `insert into siem_export_source_checkpoints as c (sink, source, transaction_id, batch_id, seq, exported)
       values ($1, $2, $6::xid8, $7, $8, $9)
       on conflict (sink, source) do update set transaction_id = excluded.transaction_id, batch_id = excluded.batch_id, seq = excluded.seq,
         exported = c.exported + excluded.exported, updated_at = now()
         where (c.transaction_id, c.batch_id, c.seq) = ($3::xid8, $4::text, $5::int)
       returning sink`,
      [sink, source, from.transactionId, from.batchId, from.seq, to.transactionId, to.batchId, to.seq, exported],
    );
    return rows.length === 1;
  }
}
