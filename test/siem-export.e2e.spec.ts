import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventSubject } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, SyslogReceiver, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, startServices, startSyslogReceiver } from '@keyledger/testing';

interface Issued {
  readonly keyId: string;
  readonly key: string;
}

/**
 * The SIEM export on the built services: the auditor sends the audit trail and the security
 * alerts to a syslog collector over TLS as CEF (with the verifications: `usage=true`) and to a
 * rotating file as OCSF (without them); after the auditor is stopped and started again both hold
 * every event, every alert and (the collector) every verification exactly once, each source in
 * its order, and neither holds any key's secret.
 */
describe('SIEM export', () => {
  let ctx: TestContext;
  let services: RunningServices;
  let auditor: RunningServices | undefined;
  let api: NatsKeyApi;
  let collector: SyslogReceiver;
  let dir: string;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  const startAuditor = async (): Promise<RunningServices> =>
    startServices(ctx, ['auditor'], {
      AUDIT_EXPORT_SINKS: [
        `syslog+tls://localhost:${collector.port}?format=cef&name=siem&usage=true&ca=${collector.caFile}`,
        `file://${dir}/audit.ocsf.jsonl?format=ocsf&maxBytes=8192&maxFiles=100&name=archive`,
      ].join(' '),
      AUDIT_EXPORT_POLL_MS: '100',
      AUDIT_EXPORT_BATCH: '7',
    });

  const storeOrder = async (): Promise<string[]> =>
    (await ctx.ownerDb.query<{ event_id: string }[]>(`select event_id::text from events order by transaction_id, position`)).map((row) => row.event_id);

  const alertOrder = async (): Promise<string[]> =>
    (await ctx.ownerDb.query<{ alert_id: string }[]>(`select alert_id from security_alerts order by transaction_id, seq`)).map((row) => row.alert_id);

  const usageOrder = async (): Promise<string[]> =>
    (await ctx.ownerDb.query<{ id: string }[]>(`select batch_id || ':' || seq as id from usage_records order by stored_in, batch_id, seq`)).map(
      (row) => row.id,
    );

  /** The record ids at the collector of one source: `EventsRejected` (alerts), `KeyUsed` (verifications), or the audit events. */
  const collected = (source: 'audit' | 'alerts' | 'usage'): string[] =>
    collector.messages
      .filter((message) =>
        source === 'alerts'
          ? message.msgId === 'EventsRejected'
          : source === 'usage'
            ? message.msgId === 'KeyUsed'
            : !['EventsRejected', 'KeyUsed'].includes(message.msgId ?? ''),
      )
      .map((message) => /externalId=([0-9a-z_:-]+)/.exec(message.message)![1]!);

  /** An event message no service can authenticate, as a stranger on the bus would publish it: each service that reads it refuses it and raises an alert. */
  const forgeEvent = (): void => {
    ctx.nc.publish(
      eventSubject(ctx.topology.subjectPrefix, 'key', 'KeyRevoked'),
      JSON.stringify({ eventId: 'forged', type: 'KeyRevoked', data: { keyId: 'key_forged' } }),
    );
  };

  /** Every OCSF line of the file and its rotated copies, oldest first. */
  const archived = (): { metadata: { uid: string; event_code: string }; class_uid: number }[] => {
    const rotated = readdirSync(dir)
      .filter((file) => file !== 'audit.ocsf.jsonl')
      .sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    return [...rotated, 'audit.ocsf.jsonl'].flatMap((file) =>
      readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { metadata: { uid: string; event_code: string }; class_uid: number }),
    );
  };

  const stopAuditor = async (): Promise<void> => {
    const [running] = auditor!.all;
    const exited = new Promise<void>((resolve) => running!.child.once('exit', () => resolve()));
    auditor!.stop();
    await exited;
    auditor = undefined;
  };

  beforeAll(async () => {
    ctx = await createTestContext('siemexport');
    collector = await startSyslogReceiver({ tls: true });
    dir = mkdtempSync(join(tmpdir(), 'siem-export-e2e-'));
    services = await startServices(ctx, ['relay', 'issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    if (auditor) await stopAuditor();
    services?.stop();
    await collector?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ctx?.close();
  });

  it('exports every event, alert and verification exactly once across an auditor restart, and no key secret', async () => {
    auditor = await startAuditor();
    const secrets: string[] = [rootKey];
    const lifecycle = async (tenant: string): Promise<void> => {
      const key = await api.ok<Issued>('keys.issue', { tenant, owner: 'billing', scopes: ['orders:read'] });
      secrets.push(key.key);
      await api.ok('keys.suspend', { keyId: key.keyId, reason: 'investigating' });
      await api.ok('keys.revoke', { keyId: key.keyId, reason: 'retired' });
    };
    /** A key verified `times` times once the verifier knows it. */
    const verifications = async (tenant: string, times: number): Promise<void> => {
      const key = await api.ok<Issued>('keys.issue', { tenant, owner: 'orders', scopes: ['orders:read'] });
      secrets.push(key.key);
      await eventually(
        'the verifier knows the key',
        () => api.verify({ key: key.key, scopes: ['orders:read'] }),
        (result) => result.code === 'VALID',
      );
      for (let i = 1; i < times; i += 1) await api.verify({ key: key.key, scopes: ['orders:read'] });
    };
    const verified = (): Promise<number> => ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from usage_records`).then((rows) => rows[0]!.n);

    for (let i = 0; i < 5; i += 1) await lifecycle('acme');
    await verifications('acme', 3);
    forgeEvent();
    await eventually('an alert kept', alertOrder, (ids) => ids.length > 0);
    await eventually('the verifications in the ledger', verified, (n) => n >= 3);
    const order = await storeOrder();
    await eventually(
      'the events so far at the collector',
      () => collected('audit').length,
      (n) => n >= order.length,
    );
    await eventually(
      'the alerts so far at the collector',
      () => collected('alerts').length,
      (n) => n >= 1,
    );
    await eventually(
      'the verifications so far at the collector',
      () => collected('usage').length,
      (n) => n >= 3,
    );

    await stopAuditor();
    const alertsBefore = (await alertOrder()).length;
    for (let i = 0; i < 5; i += 1) await lifecycle('globex');
    await verifications('globex', 4);
    // Raised while the auditor is away: the notification stream keeps it until the auditor is back.
    forgeEvent();
    auditor = await startAuditor();
    await eventually('the alert raised while away kept', alertOrder, (ids) => ids.length > alertsBefore);
    await eventually('every verification in the ledger', verified, (n) => n >= 7);
    // A service may still raise an alert about the forgeries as it starts: each source is compared with its table until they agree.
    const agrees = async (source: 'audit' | 'alerts' | 'usage', ordered: () => Promise<string[]>): Promise<void> => {
      await eventually(
        `the collector's ${source} records are the stored ones, each once, in order`,
        async () => JSON.stringify(collected(source)) === JSON.stringify(await ordered()),
        Boolean,
      );
    };
    await agrees('audit', storeOrder);
    await agrees('alerts', alertOrder);
    await agrees('usage', usageOrder);
    const fileRecords = (alertsOnly: boolean): string[] =>
      archived()
        .filter((event) => (event.metadata.event_code === 'EventsRejected') === alertsOnly)
        .map((event) => event.metadata.uid);
    await eventually(
      'every event in the file, each once, in order',
      async () => JSON.stringify(fileRecords(false)) === JSON.stringify(await storeOrder()),
      Boolean,
    );
    await eventually(
      'every alert in the file, each once, in order',
      async () => JSON.stringify(fileRecords(true)) === JSON.stringify(await alertOrder()),
      Boolean,
    );
    expect(collector.errors).toEqual([]);
    expect(collected('alerts').length).toBeGreaterThan(alertsBefore);
    expect(collected('usage').length).toBeGreaterThanOrEqual(7);
    expect(
      archived()
        .filter((event) => event.metadata.event_code === 'EventsRejected')
        .every((event) => event.class_uid === 2004),
    ).toBe(true);
    // The file did not ask for usage: no API Activity there.
    expect(archived().some((event) => event.class_uid === 6003)).toBe(false);
    expect(readdirSync(dir).length).toBeGreaterThan(1);

    const everything = [...collector.messages.map((message) => message.message), ...readdirSync(dir).map((file) => readFileSync(join(dir, file), 'utf8'))].join(
      '\n',
    );
    for (const secret of secrets) {
      expect(everything).not.toContain(secret);
      // Nor the part after the key's public prefix, which is all its entropy.
      expect(everything).not.toContain(secret.slice(-20));
    }

    // Each sink's lag is 0 once it acknowledged the last batch (its write is seen before the acknowledgement is recorded).
    const metricsUrl = `http://127.0.0.1:${auditor.all[0]!.httpPort}/metrics`;
    const scrape = () => fetch(metricsUrl).then((response) => response.text());
    // Every source of each sink: audit and alerts for both, usage for the collector.
    const lags = (metrics: string) => [...metrics.matchAll(/^keyledger_siem_export_lag_seconds\{([^}]*)\} (\S+)$/gm)].map((match) => [match[1], match[2]]);
    const caughtUp = (metrics: string) => lags(metrics).length === 5 && lags(metrics).every(([, value]) => value === '0');
    await eventually('every sink and source caught up on /metrics', scrape, caughtUp);
  });
});
