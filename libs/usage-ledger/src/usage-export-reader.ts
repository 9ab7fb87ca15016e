import type { DataSource } from 'typeorm';

/** A stored verification's place in the export order: the transaction that stored it, its batch, its place in the batch. */
export interface UsageExportPosition {
  readonly transactionId: string;
  readonly batchId: string;
  readonly seq: number;
}

/** The place before every stored verification. */
export const BEFORE_FIRST_USAGE: UsageExportPosition = { transactionId: '0', batchId: '', seq: 0 };

/** One verification of a known key, as the ledger stores it: the key by its id, never a presented key. */
export interface ExportedUsageRecord {
  readonly position: UsageExportPosition;
  /** When it was answered, ms since the epoch (the verifier's clock). */
  readonly at: number;
  readonly keyId: string;
  readonly tenant?: string;
  readonly ip?: string;
  readonly scopes: readonly string[];
  readonly code: string;
  readonly cost: number;
  readonly transport: string;
}

interface UsageRow {
  transaction_id: string;
  batch_id: string;
  seq: number;
  at_ms: string;
  key_id: string;
  tenant: string | null;
  ip: string | null;
  scopes: string[];
  code: string;
  cost: number;
  transport: string;
}

const AFTER = `(stored_in, batch_id, seq) > ($1::xid8, $2::text, $3::int)`;

/**
 * The usage ledger's verifications in the order stored (`usage_records.stored_in`, then batch
 * and place), for the SIEM export. Only records of known keys are rows (unknown strings are
 * counted per minute, not recorded). A reader never passes a transaction still running, so a
 * batch committed late cannot fall behind a reader's checkpoint.
 */
export class UsageExportReader {
  constructor(private readonly db: DataSource) {}

  /** Up to `limit` verifications stored after `after`, in the order stored. */
  async readAfter(after: UsageExportPosition, limit: number): Promise<ExportedUsageRecord[]> {
    const rows = await this.db.query<UsageRow[]>(
      `select stored_in::text as transaction_id, batch_id, seq, (extract(epoch from at) * 1000)::bigint::text as at_ms,
              key_id, tenant, ip, scopes, code, cost, transport
       from usage_records
       where ${AFTER} and stored_in < pg_snapshot_xmin(pg_current_snapshot())
       order by stored_in, batch_id, seq
       limit $4`,
      [after.transactionId, after.batchId, after.seq, limit],
    );
    return rows.map((row) => ({
      position: { transactionId: row.transaction_id, batchId: row.batch_id, seq: row.seq },
      at: Number(row.at_ms),
      keyId: row.key_id,
      ...(row.tenant !== null && { tenant: row.tenant }),
      ...(row.ip !== null && { ip: row.ip }),
      scopes: row.scopes,
      code: row.code,
      cost: row.cost,
      transport: row.transport,
    }));
  }

  /**
   * Verifications stored after `after` that were answered before `before`: what retention is
   * about to drop (whole days before `before`) that a reader at `after` has not read yet.
   */
  async countAfterAnsweredBefore(after: UsageExportPosition, before: number): Promise<number> {
    const [row] = await this.db.query<{ n: string }[]>(`select count(*)::text as n from usage_records where at < $4 and ${AFTER}`, [
      after.transactionId,
      after.batchId,
      after.seq,
      new Date(before).toISOString(),
    ]);
    return Number(row?.n ?? 0);
  }
}
