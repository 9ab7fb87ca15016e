import type { DataSource } from 'typeorm';
import type { SecurityAlert } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import type { IdentifiedAlert } from './security-alert-log.js';
import { BEFORE_FIRST_ALERT, SecurityAlertLog, StoredAlertInvalidError, alertIdOf } from './security-alert-log.js';

describe('security alert log', () => {
  let ctx: TestContext;
  let db: DataSource;
  let log: SecurityAlertLog;

  beforeEach(async () => {
    ctx = await createTestContext('alertlog');
    db = await ctx.connectAs('auditor');
    log = new SecurityAlertLog(db, ctx.auth.authenticator);
  });
  afterEach(() => ctx.close());

  const identified = (i: number): IdentifiedAlert => {
    const alert: SecurityAlert = {
      kind: 'events-rejected',
      service: 'issuer-1',
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      source: 'store',
      reason: 'unsealed',
      rejected: 1,
    };
    const body = new TextEncoder().encode(JSON.stringify(alert));
    return { alertId: alertIdOf(body), alert, body, seal: ctx.auth.authenticator.sealSecurityAlert(body) };
  };
  const readAll = (): Promise<string[]> => log.readAfter(BEFORE_FIRST_ALERT, 100).then((alerts) => alerts.map((stored) => stored.alertId));

  it('stores an alert delivered twice once, and reads the alerts back in the order stored', async () => {
    expect(await log.store([identified(2), identified(1)])).toEqual({ duplicateIds: [] });
    expect(await log.store([identified(1), identified(3)])).toEqual({ duplicateIds: [identified(1).alertId] });
    const all = await eventually('the alerts readable', readAll, (ids) => ids.length === 3);
    expect(all).toEqual([identified(2), identified(1), identified(3)].map((alert) => alert.alertId));
    const [first] = await log.readAfter(BEFORE_FIRST_ALERT, 1);
    expect(await log.readAfter(first!.position, 100).then((alerts) => alerts.map((stored) => stored.alertId))).toEqual(all.slice(1));
  });

  it('reads no alert past a transaction still running, so one committed late cannot fall behind a reader', async () => {
    const late = db.createQueryRunner();
    await late.connect();
    await late.startTransaction();
    try {
      const first = identified(1);
      await late.query(
        `insert into security_alerts (alert_id, seq, raised_at, alert, body, seal_version, seal_mac) values ($1, 1, now(), $2::jsonb, $3, $4, $5)`,
        [first.alertId, JSON.stringify(first.alert), Buffer.from(first.body), first.seal.v, first.seal.mac],
      );
      await log.store([identified(2)]);
      expect(await readAll()).toEqual([]);
      await late.commitTransaction();
    } finally {
      await late.release();
    }
    expect(await eventually('both alerts readable', readAll, (ids) => ids.length === 2)).toEqual([identified(1).alertId, identified(2).alertId]);
  });

  it('refuses a stored row that is not an alert with a typed error, rather than exporting it or passing it', async () => {
    await log.store([identified(1)]);
    // Sealed, but no alert: the bytes a service with the keys (and a bug) would have raised.
    const body = new TextEncoder().encode(JSON.stringify({ kind: 'all-clear' }));
    await ctx.ownerDb.query(`update security_alerts set body = $1, seal_version = $2, seal_mac = $3`, [
      Buffer.from(body),
      ctx.auth.authenticator.sealSecurityAlert(body).v,
      ctx.auth.authenticator.sealSecurityAlert(body).mac,
    ]);
    await eventually(
      'the row readable',
      () => db.query<unknown[]>(`select 1 from security_alerts where transaction_id < pg_snapshot_xmin(pg_current_snapshot())`),
      (rows) => rows.length === 1,
    );
    await expect(log.readAfter(BEFORE_FIRST_ALERT, 10)).rejects.toBeInstanceOf(StoredAlertInvalidError);
  });
});
