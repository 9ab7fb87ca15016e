import type { DataSource } from 'typeorm';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyUsed, testUsageBatch } from '@keyledger/testing';
import { BEFORE_FIRST_USAGE, UsageExportReader } from './usage-export-reader.js';
import { UsageLedger } from './usage-ledger.js';

describe('usage export reader', () => {
  let ctx: TestContext;
  let db: DataSource;
  let ledger: UsageLedger;
  let reader: UsageExportReader;
  const key = 'key_01jf0000000000000000000009';

  beforeEach(async () => {
    ctx = await createTestContext('usageexport');
    db = await ctx.connectAs('auditor');
    ledger = new UsageLedger(db);
    reader = new UsageExportReader(db);
  });
  afterEach(() => ctx.close());

  const readAll = async (): Promise<string[]> =>
    (await reader.readAfter(BEFORE_FIRST_USAGE, 1000)).map((record) => `${record.position.batchId}:${record.position.seq}`);

  it('reads each verification of a known key once, in the order stored, and none of an unknown string', async () => {
    const at = Date.UTC(2026, 1, 1, 12);
    await ledger.ingest([
      testUsageBatch(
        [
          testKeyUsed(key, 'VALID', at),
          { ...testKeyUsed(key, 'NOT_FOUND', at + 1), keyId: undefined, fingerprint: 'fp_0000000000000000000000' },
          testKeyUsed(key, 'REVOKED', at + 2),
        ],
        'ub_01jf0000000000000000000001',
      ),
    ]);
    await ledger.ingest([testUsageBatch([testKeyUsed(key, 'VALID', at - 60_000)], 'ub_01jf0000000000000000000000')]);
    const all = await eventually('the records readable', readAll, (ids) => ids.length === 3);
    // Stored order, not the time answered nor the batch id: the second batch came later.
    expect(all).toEqual(['ub_01jf0000000000000000000001:0', 'ub_01jf0000000000000000000001:2', 'ub_01jf0000000000000000000000:0']);
    const [first] = await reader.readAfter(BEFORE_FIRST_USAGE, 1);
    expect(first).toMatchObject({ keyId: key, tenant: 'acme', ip: '198.51.100.7', code: 'VALID', at, scopes: [], cost: 0, transport: 'http' });
    expect((await reader.readAfter(first!.position, 10)).map((record) => record.code)).toEqual(['REVOKED', 'VALID']);
  });

  it('reads no verification past a transaction still running, so a batch committed late cannot fall behind a reader', async () => {
    const at = Date.UTC(2026, 1, 1, 12);
    await ledger.ensurePartitions([at]);
    const late = db.createQueryRunner();
    await late.connect();
    await late.startTransaction();
    try {
      await late.query(
        `insert into usage_records (at, batch_id, seq, key_id, tenant, scopes, code, cost, transport, instance) values ($1, 'ub_01jf0000000000000000000005', 0, $2, 'acme', '{}', 'VALID', 0, 'http', 'v')`,
        [new Date(at).toISOString(), key],
      );
      await ledger.ingest([testUsageBatch([testKeyUsed(key, 'VALID', at)], 'ub_01jf0000000000000000000006')]);
      expect(await readAll()).toEqual([]);
      await late.commitTransaction();
    } finally {
      await late.release();
    }
    expect(await eventually('both readable', readAll, (ids) => ids.length === 2)).toEqual([
      'ub_01jf0000000000000000000005:0',
      'ub_01jf0000000000000000000006:0',
    ]);
  });
});
