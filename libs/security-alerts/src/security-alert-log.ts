import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { SecurityAlert } from '@keyledger/contracts';
import { securityAlertSchema } from '@keyledger/contracts';

/** An alert as the auditor keeps it: the alert, and the id its bytes hash to. */
export interface IdentifiedAlert {
  readonly alertId: string;
  readonly alert: SecurityAlert;
}

/** A stored alert's place in the export order: the transaction that stored it, and its place in that transaction. */
export interface StoredAlertPosition {
  readonly transactionId: string;
  readonly seq: number;
}

/** The place before every stored alert. */
export const BEFORE_FIRST_ALERT: StoredAlertPosition = { transactionId: '0', seq: 0 };

export interface StoredAlert extends IdentifiedAlert {
  readonly position: StoredAlertPosition;
}

/** A stored row that is not a SecurityAlert: written behind the auditor's back. The export of alerts stops on it until an operator looks. */
export class StoredAlertInvalidError extends Error {
  readonly code = 'STORED_ALERT_INVALID';
  constructor(readonly alertId: string) {
    super(`stored security alert ${alertId} is not a valid SecurityAlert; the alert export holds before it`);
    this.name = 'StoredAlertInvalidError';
  }
}

/**
 * An alert's id: the SHA-256 of its message's bytes. The same message delivered twice has one id,
 * so it is stored once; two alerts differ at least in their service, time or count.
 */
export function alertIdOf(bytes: Uint8Array): string {
  return `sa_${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}`;
}

/**
 * The security alerts the auditor keeps (table security_alerts): stored once each, read back in
 * the order stored. A reader never passes a transaction still running (it stops below the
 * oldest one open), so an alert committed late cannot fall behind a reader's checkpoint.
 */
export class SecurityAlertLog {
  constructor(private readonly db: DataSource) {}

  /** Stores the alerts in one statement, in their order; names those stored before. */
  async store(alerts: readonly IdentifiedAlert[]): Promise<{ readonly duplicateIds: readonly string[] }> {
    if (alerts.length === 0) return { duplicateIds: [] };
    const rows = await this.db.query<{ alert_id: string }[]>(
      `insert into security_alerts (alert_id, seq, raised_at, alert)
       select a.id, a.seq::int, a.raised_at::timestamptz, a.alert::jsonb
       from unnest($1::text[], $2::text[], $3::text[]) with ordinality as a(id, raised_at, alert, seq)
       on conflict (alert_id) do nothing
       returning alert_id`,
      [alerts.map((a) => a.alertId), alerts.map((a) => a.alert.at), alerts.map((a) => JSON.stringify(a.alert))],
    );
    const stored = new Set(rows.map((row) => row.alert_id));
    return { duplicateIds: alerts.map((a) => a.alertId).filter((id) => !stored.has(id)) };
  }

  /** Up to `limit` alerts stored after `after`, in the order stored; each checked to be a SecurityAlert. */
  async readAfter(after: StoredAlertPosition, limit: number): Promise<StoredAlert[]> {
    const rows = await this.db.query<{ alert_id: string; transaction_id: string; seq: number; alert: unknown }[]>(
      `select alert_id, transaction_id::text as transaction_id, seq, alert
       from security_alerts
       where (transaction_id, seq) > ($1::xid8, $2::int) and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       order by transaction_id, seq
       limit $3`,
      [after.transactionId, after.seq, limit],
    );
    return rows.map((row) => {
      const parsed = securityAlertSchema.safeParse(row.alert);
      if (!parsed.success) throw new StoredAlertInvalidError(row.alert_id);
      return { alertId: row.alert_id, alert: parsed.data, position: { transactionId: row.transaction_id, seq: row.seq } };
    });
  }
}
