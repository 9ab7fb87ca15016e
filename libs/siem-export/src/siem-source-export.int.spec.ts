import { headers } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import type { KeyUsed, SecurityAlert } from '@keyledger/contracts';
import { MESSAGE_HEADERS, formatUsageSeal, securityAlertSubject } from '@keyledger/contracts';
import { DEFAULT_REDELIVERY_POLICY } from '@keyledger/consumer-runtime';
import { EventAuthenticator } from '@keyledger/event-auth';
import { BEFORE_FIRST_ALERT, SecurityAlertConsumer, SecurityAlertLog } from '@keyledger/security-alerts';
import type { ParsedSyslogMessage } from '@keyledger/siem-format';
import { LOG_AUDIT_FACILITY } from '@keyledger/siem-format';
import type { SyslogReceiver, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, startSyslogReceiver, testKeyUsed, testUsageBatch } from '@keyledger/testing';
import { UsageExportReader, UsageLedger } from '@keyledger/usage-ledger';
import { KEYLEDGER_SIEM_DEVICE } from './siem-exporters.js';
import { SiemSourceCheckpoints } from './siem-source-checkpoints.js';
import { SiemSourceExporter } from './siem-source-exporter.js';
import type { SiemSource } from './siem-source.js';
import { START_OF_SOURCE } from './siem-source.js';
import { AlertSource, UsageSource } from './siem-sources.js';
import type { SiemLine, SiemSink } from './sinks/siem-sink.js';
import { SyslogStreamSink } from './sinks/syslog-stream-sink.js';
import { UsageRetentionCheck } from './usage-retention-check.js';

const ORIGIN = { facility: LOG_AUDIT_FACILITY, hostname: 'auditor-test', appName: 'keyledger-auditor', procId: 'test' };
const DAY = 86_400_000;

/** A CEF extension's fields (values unescaped). */
function cefFields(line: string): Record<string, string> {
  const extension = line
    .split(/(?<!\\)\|/)
    .slice(7)
    .join('|');
  const fields: Record<string, string> = {};
  for (const match of extension.matchAll(/(?:^| )(\w+)=((?:[^\\=]|\\.)*?)(?= \w+=|$)/g)) fields[match[1]!] = match[2]!.replace(/\\(.)/g, '$1');
  return fields;
}

const idsOf = (messages: readonly ParsedSyslogMessage[]): string[] => messages.map((message) => cefFields(message.message)['externalId']!);

/**
 * The SIEM export of the security alerts (made durable by the auditor's consumer of the
 * notification stream) and of the usage ledger's verifications, on real JetStream and Postgres:
 * each record once, in order, held while the collector is down, and sent again only when a
 * batch was written but not checkpointed.
 */
describe('SIEM export of alerts and usage', () => {
  let ctx: TestContext;
  let db: DataSource;
  let receiver: SyslogReceiver;
  let ledger: UsageLedger;
  const alertConsumers: SecurityAlertConsumer[] = [];
  const exporters: SiemSourceExporter[] = [];

  beforeEach(async () => {
    ctx = await createTestContext('siemsources');
    db = await ctx.connectAs('auditor');
    receiver = await startSyslogReceiver();
    ledger = new UsageLedger(db);
  });

  afterEach(async () => {
    await Promise.all(alertConsumers.splice(0).map((consumer) => consumer.stop()));
    await Promise.all(exporters.splice(0).map((exporter) => exporter.close()));
    await receiver.close();
    await ctx.close();
  });

  const syslogSink = (): SyslogStreamSink => new SyslogStreamSink('siem', 'cef', { host: '127.0.0.1', port: receiver.port, origin: ORIGIN });
  const exporterFor = (source: SiemSource, sink: SiemSink = syslogSink(), batchSize = 500): SiemSourceExporter => {
    const exporter = new SiemSourceExporter(
      source,
      new SiemSourceCheckpoints(db),
      sink,
      { batchSize, retryMaxMs: 200, device: KEYLEDGER_SIEM_DEVICE },
      ctx.logger,
    );
    exporters.push(exporter);
    return exporter;
  };

  const startAlertConsumer = async (): Promise<SecurityAlertConsumer> => {
    const consumer = new SecurityAlertConsumer(
      { nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, logger: ctx.logger, log: new SecurityAlertLog(db, ctx.auth.authenticator), auth: ctx.auth },
      { alertsPerStore: 4, ackWaitMs: 1000, redelivery: DEFAULT_REDELIVERY_POLICY },
    );
    alertConsumers.push(consumer);
    await consumer.start();
    return consumer;
  };

  const alert = (i: number, overrides: Partial<SecurityAlert> = {}): SecurityAlert => ({
    kind: 'events-rejected',
    service: 'verifier-1',
    at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
    source: 'bus',
    reason: 'bad-mac',
    streamId: `key-key_${String(i).padStart(26, '0')}`,
    subject: `${ctx.topology.subjectPrefix}.events.key.KeyRevoked`,
    rejected: i + 1,
    ...overrides,
  });

  /** Publishes a message on the alert subject, sealed under the event keys as a service seals its alerts unless `sealed` is false. */
  const publishAlert = (body: unknown, sealed = true): void => {
    const payload = new TextEncoder().encode(JSON.stringify(body));
    const seal = headers();
    if (sealed) seal.set(MESSAGE_HEADERS.alertSeal, formatUsageSeal(ctx.auth.authenticator.sealSecurityAlert(payload)));
    ctx.nc.publish(securityAlertSubject(ctx.topology.subjectPrefix), payload, { headers: seal });
  };

  /** Publishes alerts as a service does (core NATS, captured by the notification stream) and waits until the stream holds them. */
  const raise = async (alerts: readonly SecurityAlert[]): Promise<void> => {
    const before = (await ctx.jsm.streams.info(ctx.topology.notificationStream)).state.messages;
    for (const raised of alerts) publishAlert(raised);
    await ctx.nc.flush();
    await eventually(
      'the stream keeps the alerts',
      async () => (await ctx.jsm.streams.info(ctx.topology.notificationStream)).state.messages,
      (n) => n >= before + alerts.length,
    );
  };

  const storedAlertIds = async (): Promise<string[]> =>
    (await ctx.ownerDb.query<{ alert_id: string }[]>(`select alert_id from security_alerts order by transaction_id, seq`)).map((row) => row.alert_id);

  /** Passes of the exporter until the collector holds `count` messages. */
  const exportUntil = async (exporter: SiemSourceExporter, count: number): Promise<void> => {
    await eventually(
      `${count} messages at the collector`,
      async () => {
        await exporter.exportPending();
        return receiver.messages.length;
      },
      (n) => n >= count,
    );
  };

  it('keeps each alert the services raise once, across a consumer restart, and exports them in order as findings', async () => {
    await startAlertConsumer();
    await raise([alert(0), alert(1), alert(2)]);
    await eventually('three alerts stored', storedAlertIds, (ids) => ids.length === 3);
    await alertConsumers[0]!.stop();
    // Raised while the auditor is away, and one of them published twice (a service's retry): kept once.
    await raise([alert(3), alert(4), alert(4), alert(5, { source: 'store', subject: undefined, reason: 'unsealed', position: '77' })]);
    await startAlertConsumer();
    await eventually('six alerts stored', storedAlertIds, (ids) => ids.length === 6);

    const exporter = exporterFor(new AlertSource(new SecurityAlertLog(db, ctx.auth.authenticator)), syslogSink(), 4);
    await exportUntil(exporter, 6);
    expect(receiver.errors).toEqual([]);
    expect(idsOf(receiver.messages)).toEqual(await storedAlertIds());
    const [first] = receiver.messages;
    expect(first).toMatchObject({ msgId: 'EventsRejected', severity: 3 });
    expect(first!.message).toMatch(/^CEF:0\|Keyledger\|Keyledger\|0\.1\.0\|EventsRejected\|Events refused as not authentic or not valid\|8\|/);
    expect(cefFields(first!.message)).toMatchObject({
      cat: 'detection-finding',
      suser: 'verifier-1',
      cnt: '1',
      outcome: 'bad-mac',
      app: 'bus',
      cs2: `key_${'0'.repeat(26)}`,
    });
    expect(cefFields(receiver.messages[5]!.message)).toMatchObject({ outcome: 'unsealed', app: 'store', cnt: '6' });
    expect(exporter.lagSeconds()).toBe(0);
  });

  it('stores no message on the alert subject that is not an alert, and the alerts after it all the same', async () => {
    await startAlertConsumer();
    publishAlert({ kind: 'events-rejected', service: 'x', note: 'no such field' });
    await raise([alert(0)]);
    await eventually('the alert stored', storedAlertIds, (ids) => ids.length === 1);
    const exporter = exporterFor(new AlertSource(new SecurityAlertLog(db, ctx.auth.authenticator)));
    await exportUntil(exporter, 1);
    expect(receiver.messages).toHaveLength(1);
  });

  it('keeps no alert a stranger on NATS raised without the event keys, unsealed or sealed under another key, and counts each refusal', async () => {
    await startAlertConsumer();
    publishAlert(alert(7, { service: 'issuer-1', streamId: 'key-key_victim0000000000000000000' }), false);
    const stranger = new EventAuthenticator([{ version: 1, secret: Buffer.alloc(32, 0x5a) }]);
    const forged = new TextEncoder().encode(JSON.stringify(alert(8)));
    const forgedSeal = headers();
    forgedSeal.set(MESSAGE_HEADERS.alertSeal, formatUsageSeal(stranger.sealSecurityAlert(forged)));
    ctx.nc.publish(securityAlertSubject(ctx.topology.subjectPrefix), forged, { headers: forgedSeal });
    await raise([alert(9)]);
    await eventually('the genuine alert stored', storedAlertIds, (ids) => ids.length === 1);
    expect(ctx.auth.rejections.all.map((rejection) => rejection.reason)).toEqual(expect.arrayContaining(['unsealed']));
    expect(ctx.auth.rejections.all.filter((rejection) => rejection.source === 'bus')).toHaveLength(2);
  });

  it('stops the alert export at a stored alert whose bytes no longer match their seal, rather than exporting it', async () => {
    await startAlertConsumer();
    await raise([alert(0), alert(1)]);
    await eventually('two alerts stored', storedAlertIds, (ids) => ids.length === 2);
    const [, second] = await storedAlertIds();
    await ctx.ownerDb.query(`update security_alerts set body = convert_to(replace(convert_from(body, 'UTF8'), 'verifier-1', 'issuer-1'), 'UTF8') where alert_id = $1`, [second]);
    const log = new SecurityAlertLog(db, ctx.auth.authenticator);
    await expect(log.readAfter(BEFORE_FIRST_ALERT, 10)).rejects.toThrow(/does not match its seal; the alert export holds before it/);
  });

  it('stops the alert export at a genuine alert copied by SQL under another id, rather than exporting it twice', async () => {
    await startAlertConsumer();
    await raise([alert(0)]);
    const [first] = await eventually('the alert stored', storedAlertIds, (ids) => ids.length === 1);
    await ctx.ownerDb.query(
      `insert into security_alerts (alert_id, seq, raised_at, alert, body, seal_version, seal_mac)
       select 'sa_copy', seq, raised_at, alert, body, seal_version, seal_mac from security_alerts where alert_id = $1`,
      [first],
    );
    const log = new SecurityAlertLog(db, ctx.auth.authenticator);
    await eventually('the copy readable', () => storedAlertIds(), (ids) => ids.length === 2);
    await expect(eventually('the copy refused', () => log.readAfter(BEFORE_FIRST_ALERT, 10).then(() => 'read', (error: Error) => error.message), (m) => m !== 'read')).resolves.toMatch(
      /sa_copy is not named by the hash of its bytes/,
    );
  });

  // In the past, so a record waiting for the collector has an age (its lag).
  const T0 = Date.UTC(2026, 1, 1, 12);
  const verifications = (keyId: string, from: number, count: number): KeyUsed[] =>
    Array.from({ length: count }, (_, i) => ({ ...testKeyUsed(keyId, i % 4 === 3 ? 'REVOKED' : 'VALID', T0 + from + i), scopes: ['orders:read'] }));
  /** Each stored verification's id, in the ledger's export order. */
  const usageOrder = async (): Promise<string[]> =>
    (await ctx.ownerDb.query<{ id: string }[]>(`select batch_id || ':' || seq as id from usage_records order by stored_in, batch_id, seq`)).map(
      (row) => row.id,
    );

  it('exports every verification once, in the order stored, as API activity with the key by its id', async () => {
    const key = 'key_01jf0000000000000000000001';
    await ledger.ingest([testUsageBatch(verifications(key, 0, 5)), testUsageBatch(verifications(key, 5, 5))]);
    await ledger.ingest([testUsageBatch(verifications(key, 10, 3))]);
    const exporter = exporterFor(new UsageSource(new UsageExportReader(db)), syslogSink(), 4);
    await exportUntil(exporter, 13);
    expect(receiver.errors).toEqual([]);
    expect(idsOf(receiver.messages)).toEqual(await usageOrder());
    const revoked = receiver.messages[3]!;
    expect(revoked).toMatchObject({ msgId: 'KeyUsed' });
    expect(cefFields(revoked.message)).toMatchObject({
      cat: 'api-activity',
      cs1: 'acme',
      cs2: key,
      cs3Label: 'scopes',
      cs3: 'orders:read',
      outcome: 'REVOKED',
      app: 'http',
      src: '198.51.100.7',
    });
    expect(revoked.message).toContain('|KeyUsed|API key verified|3|');
  });

  it('holds its usage checkpoint while the collector is down, and sends again only the batch written but not checkpointed', async () => {
    const key = 'key_01jf0000000000000000000002';
    await ledger.ingest([testUsageBatch(verifications(key, 0, 8))]);
    const source = new UsageSource(new UsageExportReader(db));
    // The second batch reaches the collector, and the process dies before its checkpoint.
    let writes = 0;
    const inner = syslogSink();
    const dying: SiemSourceExporter = exporterFor(
      source,
      {
        name: inner.name,
        format: inner.format,
        write: async (lines: readonly SiemLine[]) => {
          await inner.write(lines);
          writes += 1;
          if (writes === 2) {
            dying.stop();
            throw new Error('the process died before it heard back');
          }
        },
        close: () => inner.close(),
      },
      3,
    );
    await eventually(
      'two batches at the collector',
      async () => {
        await dying.exportPending();
        return receiver.messages.length;
      },
      (n) => n === 6,
    );
    await dying.close();
    const secondBatch = idsOf(receiver.messages).slice(3, 6);

    await receiver.stop();
    await ledger.ingest([testUsageBatch(verifications(key, 8, 4))]);
    const restarted = exporterFor(source, syslogSink(), 3);
    const pass = restarted.exportPending();
    await eventually(
      'failed writes to the collector that is down',
      () => restarted.failures,
      (n) => n >= 2,
    );
    expect(await restarted.checkpoint()).toEqual(await dying.checkpoint());
    expect(restarted.lagSeconds()).toBeGreaterThan(0);
    await receiver.start();
    await pass;
    await exportUntil(restarted, 6 + 3 + 12 - 6);
    await restarted.close();
    const order = await usageOrder();
    expect(idsOf(receiver.messages)).toEqual([...order.slice(0, 6), ...secondBatch, ...order.slice(6)]);
  });

  it('says how many verifications usage retention drops before a sink exported them', async () => {
    const key = 'key_01jf0000000000000000000003';
    const old = T0 - 40 * DAY;
    // The old day's batch stored first, then today's: the export order is the order stored.
    await ledger.ingest([testUsageBatch(verifications(key, -40 * DAY, 5))]);
    await ledger.ingest([testUsageBatch(verifications(key, 0, 2))]);
    const reader = new UsageExportReader(db);
    const behind = exporterFor(new UsageSource(reader), syslogSink(), 2);
    const caughtUp = exporterFor(new UsageSource(reader), new SyslogStreamSink('other', 'cef', { host: '127.0.0.1', port: receiver.port, origin: ORIGIN }));
    // `siem` has exported two of the old day's five records, `other` all seven.
    const [, second] = await eventually(
      'the records readable',
      () => reader.readAfter(START_OF_SOURCE, 2),
      (page) => page.length === 2,
    );
    await new SiemSourceCheckpoints(db).advance('siem', 'usage', START_OF_SOURCE, second!.position, 2);
    await exportUntil(caughtUp, 7);
    const check = new UsageRetentionCheck(reader, [behind, caughtUp], ctx.logger);
    await check.beforeDrop(Math.floor(old / DAY) * DAY + DAY);
    expect(check.expiredFor('siem')).toBe(3);
    expect(check.expiredFor('other')).toBe(0);
    await caughtUp.close();
  });
});
