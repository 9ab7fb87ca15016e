import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { EventSeal, SecurityAlert } from '@keyledger/contracts';
import { securityAlertSchema } from '@keyledger/contracts';
import type { EventAuthenticator } from '@keyledger/event-auth';

/** An alert as the auditor keeps it: the alert, the id its bytes hash to, and those bytes with the seal the raising service put on them. */
export interface IdentifiedAlert {
  readonly alertId: string;
  readonly alert: SecurityAlert;
  readonly body: Uint8Array;
  readonly seal: EventSeal;
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

/**
 * A stored row that is not a sealed SecurityAlert (its seal does not match its bytes, or they are
 * no alert): written or edited behind the auditor's back. The export of alerts stops on it until
 * an operator looks, rather than sending a stranger's words to the SIEM as a service's.
 */
export class StoredAlertInvalidError extends Error {
  readonly code = 'STORED_ALERT_INVALID';
  constructor(
    readonly alertId: string,
    why = 'is not a valid SecurityAlert',
  ) {
    super(`stored security alert ${alertId} ${why}; the alert export holds before it`);
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
  constructor(
    private readonly db: DataSource,
    private readonly authenticator: Pick<EventAuthenticator, 'checkSecurityAlert'>,
  ) {}

  /** Stores the alerts in one statement, in their order; names those stored before. */
  async store(alerts: readonly IdentifiedAlert[]): Promise<{ readonly duplicateIds: readonly string[] }> {
    if (alerts.length === 0) return { duplicateIds: [] };
    const rows = await this.db.query<{ alert_id: string }[]>(
      `insert into security_alerts (alert_id, seq, raised_at, alert, body, seal_version, seal_mac)
       select a.id, a.seq::int, a.raised_at::timestamptz, a.alert::jsonb, decode(a.body, 'base64'), a.seal_version, a.seal_mac
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[])
         with ordinality as a(id, raised_at, alert, body, seal_version, seal_mac, seq)
       on conflict (alert_id) do nothing
       returning alert_id`,
      [
        alerts.map((a) => a.alertId),
        alerts.map((a) => a.alert.at),
        alerts.map((a) => JSON.stringify(a.alert)),
        alerts.map((a) => Buffer.from(a.body).toString('base64')),
        alerts.map((a) => a.seal.v),
        alerts.map((a) => a.seal.mac),
      ],
    );
    const stored = new Set(rows.map((row) => row.alert_id));
    return { duplicateIds: alerts.map((a) => a.alertId).filter((id) => !stored.has(id)) };
  }

  /** Up to `limit` alerts stored after `after`, in the order stored; each one's seal checked over its bytes, then its shape. */
  async readAfter(after: StoredAlertPosition, limit: number): Promise<StoredAlert[]> {
    const rows = await this.db.query<{ alert_id: string; transaction_id: string; seq: number; body: Buffer; seal_version: number; seal_mac: string }[]>(
      `select alert_id, transaction_id::text as transaction_id, seq, body, seal_version, seal_mac
       from security_alerts
       where (transaction_id, seq) > ($1::xid8, $2::int) and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       order by transaction_id, seq
       limit $3`,
      [after.transactionId, after.seq, limit],
    );
    return rows.map((row) => {
      const seal = { v: row.seal_version, mac: row.seal_mac };
      const check = this.authenticator.checkSecurityAlert(row.body, seal);
      if (check !== 'ok') throw new StoredAlertInvalidError(row.alert_id, check === 'bad-mac' ? 'does not match its seal' : `is sealed under event key version ${row.seal_version}, not configured`);
      // The id is the bytes' hash: a genuine alert copied under another id would be exported twice.
      if (row.alert_id !== alertIdOf(row.body)) throw new StoredAlertInvalidError(row.alert_id, 'is not named by the hash of its bytes');
      let json: unknown;
      try {
        json = JSON.parse(row.body.toString('utf8'));
      } catch {
        throw new StoredAlertInvalidError(row.alert_id);
      }
      const parsed = securityAlertSchema.safeParse(json);
      if (!parsed.success) throw new StoredAlertInvalidError(row.alert_id);
      return { alertId: row.alert_id, alert: parsed.data, body: row.body, seal, position: { transactionId: row.transaction_id, seq: row.seq } };
    });
  }
}
