// SIEM export throughput: BENCH_EVENTS KeyIssued events (default 200,000) are written straight into
// the store with their chain hashes and MACs, then exported from the start by the auditor's
// exporter, once to a syslog collector over TCP (CEF in RFC 5424, octet counting) and once to a
// rotating file (OCSF), each with a checkpoint per batch; prints events/s for each. Then
// BENCH_USAGE verifications (default 200,000; 0 skips them) stored in the usage ledger are
// exported the same two ways, as a `usage=true` sink does; prints verifications/s.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresEventStore } from '@keyledger/event-store';
import type { KeyUsed } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import type { SiemSink } from '@keyledger/siem-export';
import {
  KEYLEDGER_SIEM_DEVICE,
  RotatingFileSink,
  SiemExportCheckpoints,
  SiemExporter,
  SiemSourceCheckpoints,
  SiemSourceExporter,
  StreamTenants,
  SyslogStreamSink,
  UsageSource,
} from '@keyledger/siem-export';
import { UsageExportReader, UsageLedger } from '@keyledger/usage-ledger';
import { LOG_AUDIT_FACILITY, OctetCountingDecoder } from '@keyledger/siem-format';
import { RecordedRejections, createTestContext } from '@keyledger/testing';
import { describeMachine, now } from './bench-support.js';
import { hashAndSealEvents, insertKeyIssuedEvents } from './support/synthetic-store.js';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 200_000);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 500);
const USAGE = Number(process.env['BENCH_USAGE'] ?? 200_000);
const ctx = await createTestContext('benchsiem');
const dir = mkdtempSync(join(tmpdir(), 'bench-siem-'));

// The collector counts whole frames (split by octet counting), as a SIEM's listener must.
let frames = 0;
const collector = createServer((socket) => {
  const decoder = new OctetCountingDecoder();
  socket.on('data', (chunk: Buffer) => void (frames += decoder.push(chunk).length));
});
await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
const port = (collector.address() as { port: number }).port;

try {
  console.log('# SIEM export\n' + (await describeMachine(ctx)));
  console.log(
    `method: ${EVENTS} KeyIssued events inserted by SQL with hashes and MACs; one SiemExporter per sink reads them from the start in batches of ${BATCH} (MACs checked), formats each and writes the batch, then moves the sink's checkpoint in Postgres; the syslog collector runs in the same process and splits the frames; the file is fsynced per batch and rotated at 64 MiB`,
  );
  await insertKeyIssuedEvents(ctx, EVENTS);
  await hashAndSealEvents(ctx);
  await ctx.ownerDb.query(`vacuum analyze events`);

  const auditorDb = await ctx.connectAs('auditor');
  const store = new PostgresEventStore(auditorDb, { authenticator: ctx.auth.authenticator, rejections: new RecordedRejections() });
  const origin = { facility: LOG_AUDIT_FACILITY, hostname: 'bench', appName: 'keyledger-auditor', procId: 'bench' };
  const run = async (label: string, sink: SiemSink, delivered: () => number): Promise<void> => {
    const exporter = new SiemExporter(
      store,
      new SiemExportCheckpoints(auditorDb),
      new StreamTenants(store),
      sink,
      { batchSize: BATCH, retryMaxMs: 1000, device: KEYLEDGER_SIEM_DEVICE },
      ctx.logger,
    );
    const t0 = now();
    // The store's readers stop below the oldest transaction running on the server: pass until every event is out.
    while (exporter.exported < EVENTS) await exporter.exportPending();
    while (delivered() < EVENTS) await new Promise((resolve) => setTimeout(resolve, 5));
    const seconds = (now() - t0) / 1000;
    await exporter.close();
    console.log(`${label}: ${exporter.exported} events in ${seconds.toFixed(1)} s (${Math.round(exporter.exported / seconds)} events/s)`);
  };
  await run('syslog over TCP, CEF', new SyslogStreamSink('syslog', 'cef', { host: '127.0.0.1', port, origin }), () => frames);
  await run('rotating file, OCSF', new RotatingFileSink('file', 'ocsf', join(dir, 'audit.jsonl'), 64 * 1024 ** 2, 100), () => EVENTS);

  if (USAGE > 0) {
    console.log(
      `method: ${USAGE} verifications of 1,000 keys (3 in 4 VALID) stored by UsageLedger.ingest in batches of 5,000; one SiemSourceExporter (source usage) per sink reads them from the start in the ledger's order in batches of ${BATCH}, formats and writes each batch, then moves the sink's usage checkpoint`,
    );
    const ledger = new UsageLedger(auditorDb);
    const t0 = Date.now() - 3_600_000;
    /** Stores `count` verifications (answered from `t0 + offset` on, a millisecond apart) in batches of 5,000; answers the seconds it took. */
    const storeVerifications = async (count: number, offset: number): Promise<number> => {
      const start = now();
      for (let from = offset; from < offset + count; from += 5000) {
        const records: KeyUsed[] = Array.from({ length: Math.min(5000, offset + count - from) }, (_, i) => ({
          keyId: `key_01jf${String((from + i) % 1000).padStart(22, '0')}`,
          tenant: 'acme',
          ip: `198.51.100.${(from + i) % 250}`,
          at: t0 + from + i,
          scopes: ['orders:read'],
          code: (from + i) % 4 === 3 ? 'REVOKED' : 'VALID',
          cost: 0,
          transport: 'http',
        }));
        await ledger.ingest([{ schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'bench', createdAt: Date.now(), records }]);
      }
      return (now() - start) / 1000;
    };
    await storeVerifications(USAGE, 0);
    await ctx.ownerDb.query(`vacuum analyze usage_records`);
    const usage = new UsageSource(new UsageExportReader(auditorDb));
    const runUsage = async (label: string, sink: SiemSink, delivered: () => number): Promise<void> => {
      const exporter = new SiemSourceExporter(
        usage,
        new SiemSourceCheckpoints(auditorDb),
        sink,
        { batchSize: BATCH, retryMaxMs: 1000, device: KEYLEDGER_SIEM_DEVICE },
        ctx.logger,
      );
      const start = now();
      while (exporter.exported < USAGE) await exporter.exportPending();
      while (delivered() < USAGE) await new Promise((resolve) => setTimeout(resolve, 5));
      const seconds = (now() - start) / 1000;
      await exporter.close();
      console.log(`${label}: ${exporter.exported} verifications in ${seconds.toFixed(1)} s (${Math.round(exporter.exported / seconds)} verifications/s)`);
    };
    frames = 0;
    await runUsage('usage, syslog over TCP, CEF', new SyslogStreamSink('syslog', 'cef', { host: '127.0.0.1', port, origin }), () => frames);
    await runUsage('usage, rotating file, OCSF', new RotatingFileSink('file', 'ocsf', join(dir, 'usage.jsonl'), 64 * 1024 ** 2, 100), () => USAGE);

    // What the export order costs the ledger: the same ingest with and without its index, alternating.
    const INDEX_RUNS = Number(process.env['BENCH_INDEX_RUNS'] ?? 2);
    const PER_RUN = 100_000;
    console.log(
      `method: ${INDEX_RUNS} pairs of runs, each storing ${PER_RUN} more verifications by UsageLedger.ingest (batches of 5,000, one statement each), first without the usage_records export-order index (dropped by the schema owner), then with it (created again)`,
    );
    for (let run = 0; run < INDEX_RUNS; run += 1) {
      await ctx.ownerDb.query(`drop index usage_records_export_order`);
      const without = await storeVerifications(PER_RUN, USAGE + 2 * run * PER_RUN);
      await ctx.ownerDb.query(`create index usage_records_export_order on usage_records (stored_in, batch_id, seq)`);
      const withIndex = await storeVerifications(PER_RUN, USAGE + (2 * run + 1) * PER_RUN);
      console.log(
        `ingest, run ${run + 1}: without the index ${Math.round(PER_RUN / without)} verifications/s, with it ${Math.round(PER_RUN / withIndex)} verifications/s`,
      );
    }
  }
} finally {
  collector.close();
  rmSync(dir, { recursive: true, force: true });
  await ctx.close();
}
