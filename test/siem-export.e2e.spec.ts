import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, SyslogReceiver, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, startServices, startSyslogReceiver } from '@keyledger/testing';

interface Issued {
  readonly keyId: string;
  readonly key: string;
}

/**
 * The SIEM export on the built services: the auditor sends the audit trail to a syslog collector
 * over TLS as CEF and to a rotating file as OCSF; after the auditor is stopped and started again
 * both hold every event of the store exactly once, in order, and neither holds any key's secret.
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
        `syslog+tls://localhost:${collector.port}?format=cef&name=siem&ca=${collector.caFile}`,
        `file://${dir}/audit.ocsf.jsonl?format=ocsf&maxBytes=8192&maxFiles=100&name=archive`,
      ].join(' '),
      AUDIT_EXPORT_POLL_MS: '100',
      AUDIT_EXPORT_BATCH: '7',
    });

  const storeOrder = async (): Promise<string[]> =>
    (await ctx.ownerDb.query<{ event_id: string }[]>(`select event_id::text from events order by transaction_id, position`)).map((row) => row.event_id);

  const collected = (): string[] => collector.messages.map((message) => /externalId=([0-9a-f-]+)/.exec(message.message)![1]!);

  /** Every OCSF line of the file and its rotated copies, oldest first. */
  const archived = (): { metadata: { uid: string }; class_uid: number }[] => {
    const rotated = readdirSync(dir)
      .filter((file) => file !== 'audit.ocsf.jsonl')
      .sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    return [...rotated, 'audit.ocsf.jsonl'].flatMap((file) =>
      readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { metadata: { uid: string }; class_uid: number }),
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
    services = await startServices(ctx, ['relay', 'issuer'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey });
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

  it('exports every event exactly once across an auditor restart, and no key secret', async () => {
    auditor = await startAuditor();
    const secrets: string[] = [rootKey];
    const lifecycle = async (tenant: string): Promise<void> => {
      const key = await api.ok<Issued>('keys.issue', { tenant, owner: 'billing', scopes: ['orders:read'] });
      secrets.push(key.key);
      await api.ok('keys.suspend', { keyId: key.keyId, reason: 'investigating' });
      await api.ok('keys.revoke', { keyId: key.keyId, reason: 'retired' });
    };
    for (let i = 0; i < 5; i += 1) await lifecycle('acme');
    let order = await storeOrder();
    await eventually('the events so far at the collector', () => collector.messages.length, (n) => n >= order.length);

    await stopAuditor();
    for (let i = 0; i < 5; i += 1) await lifecycle('globex');
    auditor = await startAuditor();
    order = await storeOrder();
    await eventually('every event at the collector', () => collector.messages.length, (n) => n >= order.length);
    await eventually('every event in the file', () => archived().length, (n) => n >= order.length);

    expect(collector.errors).toEqual([]);
    expect(collected()).toEqual(order);
    expect(archived().map((event) => event.metadata.uid)).toEqual(order);
    expect(readdirSync(dir).length).toBeGreaterThan(1);

    const everything = [...collector.messages.map((message) => message.message), ...readdirSync(dir).map((file) => readFileSync(join(dir, file), 'utf8'))].join('\n');
    for (const secret of secrets) {
      expect(everything).not.toContain(secret);
      // Nor the part after the key's public prefix, which is all its entropy.
      expect(everything).not.toContain(secret.slice(-20));
    }

    // Each sink's lag is 0 once it acknowledged the last batch (its write is seen before the acknowledgement is recorded).
    const metricsUrl = `http://127.0.0.1:${auditor.all[0]!.httpPort}/metrics`;
    const scrape = () => fetch(metricsUrl).then((response) => response.text());
    const caughtUp = (metrics: string) =>
      /keyledger_siem_export_lag_seconds\{sink="siem"[^}]*\} 0\n/.test(metrics) && /keyledger_siem_export_lag_seconds\{sink="archive"[^}]*\} 0\n/.test(metrics);
    await eventually('both sinks caught up on /metrics', scrape, caughtUp);
  });
});
