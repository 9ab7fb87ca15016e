import type { SecurityAlertLog } from '@keyledger/security-alerts';
import { siemRecordOfAlert, siemRecordOfVerification } from '@keyledger/siem-format';
import type { UsageExportReader } from '@keyledger/usage-ledger';
import type { SiemSource, SourcePosition, SourceRecord } from './siem-source.js';

/** The security alerts the auditor keeps, as findings; an alert has no batch, only its place in its transaction. */
export class AlertSource implements SiemSource {
  readonly name = 'alerts';

  constructor(private readonly log: Pick<SecurityAlertLog, 'readAfter'>) {}

  async read(after: SourcePosition, limit: number): Promise<readonly SourceRecord[]> {
    const alerts = await this.log.readAfter({ transactionId: after.transactionId, seq: after.seq }, limit);
    return alerts.map(({ alertId, alert, position }) => ({
      position: { transactionId: position.transactionId, batchId: '', seq: position.seq },
      record: siemRecordOfAlert(alert, { alertId, position: `${position.transactionId}:${position.seq}` }),
    }));
  }
}

/** The usage ledger's verifications of known keys, as API activity. */
export class UsageSource implements SiemSource {
  readonly name = 'usage';

  constructor(private readonly reader: Pick<UsageExportReader, 'readAfter'>) {}

  async read(after: SourcePosition, limit: number): Promise<readonly SourceRecord[]> {
    const records = await this.reader.readAfter(after, limit);
    return records.map(({ position, at, ...record }) => ({
      position,
      record: siemRecordOfVerification({
        ...record,
        id: `${position.batchId}:${position.seq}`,
        position: `${position.transactionId}:${position.batchId}:${position.seq}`,
        at: new Date(at).toISOString(),
      }),
    }));
  }
}
