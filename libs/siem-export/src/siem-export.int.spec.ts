import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import type { ParsedSyslogMessage } from '@keyledger/siem-format';
import { LOG_AUDIT_FACILITY, parseRfc5424 } from '@keyledger/siem-format';
import { NO_STREAM } from '@keyledger/event-store';
import type { SyslogReceiver, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, insertEventBySql, startHttpsReceiver, startSyslogReceiver, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { verifyWebhookSignature } from '@keyledger/key-delivery';
import { SiemExportCheckpoints } from './siem-export-checkpoints.js';
import { SiemExporter } from './siem-exporter.js';
import { KEYLEDGER_SIEM_DEVICE } from './siem-exporters.js';
import { RotatingFileSink } from './sinks/rotating-file-sink.js';
import type { SiemLine, SiemSink } from './sinks/siem-sink.js';
import { StreamSink } from './sinks/stream-sink.js';
import { SyslogStreamSink } from './sinks/syslog-stream-sink.js';
import { SyslogUdpSink } from './sinks/syslog-udp-sink.js';
import { WebhookSink } from './sinks/webhook-sink.js';
import { StreamTenants } from './stream-tenants.js';

const ORIGIN = { facility: LOG_AUDIT_FACILITY, hostname: 'auditor-test', appName: 'keyledger-auditor', procId: 'test' };

/** A CEF line's header fields and extension, split at unescaped pipes and spaces before `key=`. */
function parseCef(line: string): { header: string[]; fields: Record<string, string> } {
  const header: string[] = [];
  let at = 0;
  let start = 0;
  while (header.length < 7) {
    if (line[at] === '\\') at += 2;
    else if (line[at] === '|') {
      header.push(line.slice(start, at));
      start = at += 1;
    } else if (at >= line.length) throw new Error(`not a CEF line: ${line}`);
    else at += 1;
  }
  const fields: Record<string, string> = {};
  for (const match of line.slice(start).matchAll(/(?:^| )(\w+)=((?:[^\\=]|\\.)*?)(?= \w+=|$)/g)) {
    fields[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  }
  return { header, fields };
}

const eventIdsOf = (messages: readonly ParsedSyslogMessage[]): string[] => messages.map((message) => parseCef(message.message).fields['externalId']!);

describe('SIEM export', () => {
  let ctx: TestContext;
  let db: DataSource;
  let receiver: SyslogReceiver;
  let dir: string;

  /** Every event id of the store, in the store's order. */
  const storeOrder = async (): Promise<string[]> =>
    (await ctx.ownerDb.query<{ event_id: string }[]>(`select event_id::text from events order by transaction_id, position`)).map((row) => row.event_id);

  const exporterFor = (sink: SiemSink, batchSize = 500): SiemExporter =>
    new SiemExporter(ctx.store, new SiemExportCheckpoints(db), new StreamTenants(ctx.store), sink, { batchSize, retryMaxMs: 200, device: KEYLEDGER_SIEM_DEVICE }, ctx.logger);

  /**
   * Passes of the exporter until its checkpoint is the store's last event: a pass may see nothing
   * while a transaction elsewhere on the shared server is older than the events (the store's
   * readers never pass a running transaction).
   */
  const exportAll = async (exporter: SiemExporter): Promise<void> => {
    const [last] = await ctx.ownerDb.query<{ transactionId: string; position: string }[]>(
      `select transaction_id::text as "transactionId", position::text as position from events order by transaction_id desc, position desc limit 1`,
    );
    const checkpoints = new SiemExportCheckpoints(db);
    await eventually(
      `${exporter.sink.name} caught up`,
      async () => {
        await exporter.exportPending();
        return checkpoints.read(exporter.sink.name);
      },
      (at) => at.transactionId === last!.transactionId && at.position === last!.position,
    );
  };

  /** Passes of the exporter until `done` holds (the exporter stops itself on the way). */
  const exportUntil = async (exporter: SiemExporter, description: string, done: () => boolean): Promise<void> => {
    await eventually(
      description,
      async () => {
        await exporter.exportPending();
        return done();
      },
      Boolean,
    );
  };

  const syslogSink = (format: 'cef' | 'ocsf' = 'cef'): SyslogStreamSink => new SyslogStreamSink('siem', format, { host: '127.0.0.1', port: receiver.port, origin: ORIGIN });

  /** Issues `count` keys in tenant `tenant`, each then suspended and revoked. */
  async function keyLives(count: number, tenant = 'acme', from = 0): Promise<void> {
    for (let i = from; i < from + count; i += 1) {
      const keyId = `key_${String(i).padStart(26, '0')}`;
      await ctx.store.append(`key-${keyId}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId, tenant), metadata: testMetadata() }]);
      await ctx.store.append(`key-${keyId}`, 1, [
        { type: 'KeySuspended', data: { keyId, reason: 'investigating' }, metadata: testMetadata() },
        { type: 'KeyRevoked', data: { keyId, reason: 'leaked' }, metadata: testMetadata() },
      ]);
    }
  }

  beforeEach(async () => {
    ctx = await createTestContext('siemexport');
    db = await ctx.connectAs('auditor');
    receiver = await startSyslogReceiver();
    dir = mkdtempSync(join(tmpdir(), 'siem-export-'));
  });

  afterEach(async () => {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
    await ctx.close();
  });

  it('sends every event to a syslog collector as CEF in RFC 5424 frames, in store order, the key named by its id and tenant', async () => {
    // What an admin or a detector may write into a reason or a detail, aimed at a CEF parser.
    const hostile = 'evil|x=1 cs1=forged\\ CEF:0|x|';
    const hostileLines = `leaked\r\ncs1=forged\n${hostile}`;
    await keyLives(3);
    await ctx.store.append('key-key_00000000000000000000000009', NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData('key_00000000000000000000000009', 'acme'), metadata: testMetadata() }]);
    await ctx.store.append('key-key_00000000000000000000000009', 1, [{ type: 'KeyRevoked', data: { keyId: 'key_00000000000000000000000009', reason: hostileLines }, metadata: testMetadata() }]);
    await ctx.store.append('key-key_00000000000000000000000000', 3, [
      { type: 'AnomalyDetected', data: { keyId: 'key_00000000000000000000000000', tenant: 'acme', kind: 'new-source', severity: 'high', detail: hostile, detectedAt: new Date().toISOString() }, metadata: testMetadata() },
    ]);
    const exporter = exporterFor(syslogSink());
    await exportAll(exporter);
    const order = await storeOrder();
    await eventually('every event at the collector', () => receiver.messages.length, (n) => n >= order.length);

    expect(receiver.errors).toEqual([]);
    expect(eventIdsOf(receiver.messages)).toEqual(order);
    for (const message of receiver.messages) expect(message).toMatchObject({ facility: 13, hostname: 'auditor-test', appName: 'keyledger-auditor' });
    const revoked = receiver.messages.find((message) => message.msgId === 'KeyRevoked')!;
    expect(revoked.severity).toBe(5);
    expect(parseCef(revoked.message)).toMatchObject({
      header: ['CEF:0', 'Keyledger', 'Keyledger', '0.1.0', 'KeyRevoked', 'API key revoked', '3'],
      fields: { cs1Label: 'tenant', cs1: 'acme', cs2Label: 'keyId', cs2: expect.stringMatching(/^key_\d{26}$/), msg: 'leaked' },
    });
    const anomaly = parseCef(receiver.messages.at(-1)!.message);
    expect(anomaly.fields).toMatchObject({ cs1: 'acme', msg: hostile, cs6: 'new-source' });
    const hostileRevoke = receiver.messages.at(-2)!;
    expect(hostileRevoke.message).not.toMatch(/[\r\n]/);
    expect(parseCef(hostileRevoke.message).fields).toMatchObject({ cs1: 'acme', cs2: 'key_00000000000000000000000009', msg: hostileLines });
    // Nothing of the secret: the digest and hint of each KeyIssued stay in the store.
    const everything = receiver.messages.map((message) => message.message).join('\n');
    expect(everything).not.toMatch(/digest|hmac-sha256|kl_live_/);
    expect(await new SiemExportCheckpoints(db).read('siem')).toEqual(await ctx.ownerDb.query(`select transaction_id::text as "transactionId", position::text as position from events order by transaction_id desc, position desc limit 1`).then((rows: unknown[]) => rows[0]));
  });

  it('holds its checkpoint while the collector is down and loses nothing once it is back', async () => {
    await keyLives(2);
    const exporter = exporterFor(syslogSink(), 4);
    await exportAll(exporter);
    await eventually('the first events at the collector', () => receiver.messages.length, (n) => n === 6);
    const before = await new SiemExportCheckpoints(db).read('siem');

    await receiver.stop();
    await keyLives(3, 'acme', 2);
    const pass = exportAll(exporter);
    await eventually('failed writes to the collector that is down', () => exporter.failures, (n) => n >= 2);
    expect(await new SiemExportCheckpoints(db).read('siem')).toEqual(before);
    expect(exporter.lagSeconds()).toBeGreaterThan(0);

    await receiver.start();
    await pass;
    const order = await storeOrder();
    await eventually('every event at the collector', () => receiver.messages.length, (n) => n >= order.length);
    expect(receiver.errors).toEqual([]);
    expect(eventIdsOf(receiver.messages)).toEqual(order);
    expect(exporter.lagSeconds()).toBe(0);
  });

  /** A sink that passes writes on to `inner`, and on its `nth` write calls `then` once the write is through. */
  function sinkInterruptedAt(inner: SiemSink, nth: number, then: () => void): SiemSink {
    let writes = 0;
    return {
      name: inner.name,
      format: inner.format,
      write: async (lines: readonly SiemLine[]) => {
        await inner.write(lines);
        writes += 1;
        if (writes === nth) then();
      },
      close: () => inner.close(),
    };
  }

  it('continues from its checkpoint after a clean restart: every event exactly once', async () => {
    await keyLives(4);
    // A shutdown while the second batch is being written: the batch completes, and counts.
    const first: SiemExporter = exporterFor(
      sinkInterruptedAt(syslogSink(), 2, () => first.stop()),
      5,
    );
    await exportUntil(first, 'two batches at the collector', () => receiver.messages.length === 10);
    await first.close();
    await keyLives(2, 'beta', 4);

    const second = exporterFor(syslogSink(), 5);
    await exportAll(second);
    await second.close();
    const order = await storeOrder();
    await eventually('every event at the collector', () => receiver.messages.length, (n) => n >= order.length);
    expect(receiver.errors).toEqual([]);
    expect(eventIdsOf(receiver.messages)).toEqual(order);
  });

  it('sends again only the batch written but not checkpointed when it died between the two', async () => {
    await keyLives(4);
    // The second batch reaches the collector, and the process dies before its checkpoint.
    const first: SiemExporter = exporterFor(
      sinkInterruptedAt(syslogSink(), 2, () => {
        first.stop();
        throw new Error('the process died before it heard back');
      }),
      5,
    );
    await exportUntil(first, 'two batches at the collector', () => receiver.messages.length === 10);
    const secondBatch = eventIdsOf(receiver.messages).slice(5, 10);

    const second = exporterFor(syslogSink(), 5);
    await exportAll(second);
    await second.close();
    await first.close();
    const order = await storeOrder();
    await eventually('every event at the collector', () => receiver.messages.length, (n) => n >= order.length + 5);
    const received = eventIdsOf(receiver.messages);
    expect(new Set(received)).toEqual(new Set(order));
    // The restart starts after the first batch, the last checkpoint: the second batch comes twice, nothing else.
    expect(received).toEqual([...order.slice(0, 10), ...order.slice(5)]);
    expect(received.filter((id, i) => received.indexOf(id) !== i)).toEqual(secondBatch);
    expect(secondBatch).toEqual(order.slice(5, 10));
  });

  it('writes OCSF lines to a file, rotated by size, all of them in order, none lost to a rotation', async () => {
    await keyLives(20);
    const path = join(dir, 'audit', 'audit.ocsf.jsonl');
    const exporter = exporterFor(new RotatingFileSink('file', 'ocsf', path, 4096, 50), 7);
    await exportAll(exporter);
    await exporter.close();
    const files = readdirSync(join(dir, 'audit')).sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop()));
    expect(files.length).toBeGreaterThan(2);
    const lines = ['audit.ocsf.jsonl', ...files.filter((file) => file !== 'audit.ocsf.jsonl').reverse()]
      .reverse()
      .flatMap((file) => readFileSync(join(dir, 'audit', file), 'utf8').split('\n').filter((line) => line !== ''));
    const events = lines.map((line) => JSON.parse(line) as { class_uid: number; metadata: { uid: string; tenant_uid: string }; token: { uid: string } });
    expect(events.map((event) => event.metadata.uid)).toEqual(await storeOrder());
    expect(new Set(events.map((event) => event.class_uid))).toEqual(new Set([3004]));
    expect(events.every((event) => event.metadata.tenant_uid === 'acme' && /^key_\d{26}$/.test(event.token.uid))).toBe(true);
  });

  it('never exports a row written into the store by SQL without the event key', async () => {
    await keyLives(1);
    const forged = await insertEventBySql(ctx.ownerDb, { streamId: 'key-key_00000000000000000000000000', type: 'KeyResumed', data: { keyId: 'key_00000000000000000000000000' } }, 'garbage');
    await keyLives(1, 'acme', 1);
    const exporter = exporterFor(syslogSink());
    await exportAll(exporter);
    await exporter.close();
    const authentic = (await storeOrder()).filter((id) => id !== forged.eventId);
    await eventually('every authentic event at the collector', () => receiver.messages.length + receiver.errors.length, (n) => n >= authentic.length);
    expect(receiver.errors).toEqual([]);
    expect(eventIdsOf(receiver.messages)).toEqual(authentic);
  });

  it('sends one RFC 5424 message per UDP datagram to a syslog listener', async () => {
    await keyLives(2);
    const listener = createSocket('udp4');
    const datagrams: string[] = [];
    listener.on('message', (message) => datagrams.push(message.toString('utf8')));
    await new Promise<void>((resolve) => listener.bind(0, '127.0.0.1', resolve));
    try {
      const exporter = exporterFor(new SyslogUdpSink('udp', 'cef', { host: '127.0.0.1', port: listener.address().port, origin: ORIGIN }));
      await exportAll(exporter);
      await exporter.close();
      const order = await storeOrder();
      await eventually('every datagram', () => datagrams.length, (n) => n >= order.length);
      expect(eventIdsOf(datagrams.map(parseRfc5424))).toEqual(order);
    } finally {
      listener.close();
    }
  });

  it('writes JSON lines to a stream such as stdout', async () => {
    await keyLives(1);
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const exporter = exporterFor(new StreamSink('stdout', 'jsonl', out));
    await exportAll(exporter);
    const records = chunks.join('').trimEnd().split('\n').map((line) => JSON.parse(line) as { eventId: string; keyId: string; tenant: string });
    expect(records.map((record) => record.eventId)).toEqual(await storeOrder());
    expect(records.map((record) => [record.keyId, record.tenant])).toEqual(Array.from({ length: 3 }, () => ['key_00000000000000000000000000', 'acme']));
  });

  it('POSTs signed batches to an HTTPS webhook and sends a refused batch again', async () => {
    await keyLives(3);
    const webhook = await startHttpsReceiver();
    const secret = 'whsec_siem_export_test_secret_0123456789';
    try {
      webhook.statuses.push(503);
      const exporter = exporterFor(new WebhookSink('webhook', 'ocsf', { url: `${webhook.url}/ingest`, secrets: [secret], ca: webhook.caPem }), 4);
      await exportAll(exporter);
      const [refused, ...accepted] = webhook.requests;
      expect(exporter.failures).toBe(1);
      // The refused batch comes again, whole, in the next request.
      expect(accepted[0]!.body).toBe(refused!.body);
      for (const request of webhook.requests) {
        expect(verifyWebhookSignature({ payload: request.body, header: request.headers['keyledger-signature'] as string, secret })).toMatchObject({ valid: true });
        expect(verifyWebhookSignature({ payload: request.body, header: request.headers['keyledger-signature'] as string, secret: `${secret}x` })).toMatchObject({ valid: false });
      }
      const uids = accepted.flatMap((request) => (JSON.parse(request.body) as { metadata: { uid: string }; class_uid: number }[]).map((event) => event.metadata.uid));
      expect(uids).toEqual(await storeOrder());
    } finally {
      await webhook.close();
    }
  });

  it('sends over TLS only to a collector whose certificate it trusts, and holds its checkpoint otherwise', async () => {
    await keyLives(2);
    const collector = await startSyslogReceiver({ tls: true });
    try {
      const tlsSink = (ca?: string): SyslogStreamSink =>
        new SyslogStreamSink('siem-tls', 'cef', { host: 'localhost', port: collector.port, origin: ORIGIN, tls: ca === undefined ? {} : { ca } });
      // A collector with a certificate Node's CAs do not vouch for: an impostor, as far as the exporter can tell.
      const refused = exporterFor(tlsSink());
      let stopped = false;
      const passes = (async () => {
        while (!stopped) await refused.exportPending();
      })();
      await eventually('refused handshakes', () => refused.failures, (n) => n >= 2);
      stopped = true;
      refused.stop();
      await passes;
      await refused.close();
      expect(collector.messages).toEqual([]);
      expect(await new SiemExportCheckpoints(db).read('siem-tls')).toEqual({ transactionId: '0', position: '0' });

      const trusted = exporterFor(tlsSink(readFileSync(collector.caFile!, 'utf8')));
      await exportAll(trusted);
      await trusted.close();
      const order = await storeOrder();
      await eventually('every event at the TLS collector', () => collector.messages.length, (n) => n >= order.length);
      expect(collector.errors).toEqual([]);
      expect(eventIdsOf(collector.messages)).toEqual(order);
    } finally {
      await collector.close();
    }
  });
});
