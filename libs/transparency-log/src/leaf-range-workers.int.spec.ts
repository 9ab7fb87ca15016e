import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DataSource } from 'typeorm';
import { NO_STREAM, PostgresEventStore } from '@keyledger/event-store';
import { parseVersionedSecrets } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { RecordedRejections, createTestContext, eventually, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import type { LeafRangeWorkers } from './leaf-range-workers.js';
import { verifyTransparencyLog } from './log-verifier.js';
import { PostgresTransparencyLog } from './postgres-transparency-log.js';
import { NoteSigner, parseVerifierKey } from './signed-note.js';

// The threads run the built script, as the command does: `npm run -s build` first (as for the e2e tests).
const BUILT_WORKER = new URL('../../../dist/libs/transparency-log/src/leaf-range.worker.js', import.meta.url);
const keyId = (n: number): string => `key_${String(n).padStart(26, '0')}`;

describe('audit verify on worker threads', () => {
  let ctx: TestContext;
  let auditorDb: DataSource;
  let log: PostgresTransparencyLog;
  let workers: LeafRangeWorkers;
  const { privateKey, verifierKey } = NoteSigner.generate('keyledger.test/audit');
  const vkey = parseVerifierKey(verifierKey);
  // Ranges of two leaves checked on two threads: nearly every stream runs across a boundary between threads.
  const ranged = { pageSize: 2, rangeLeaves: 2 };

  /** Keys issued, each on its own stream, half of them revoked at once: a KeyRevoked's KeyIssued is the leaf before it. */
  const appendEvents = async (from: number, count: number): Promise<void> => {
    for (let i = from; i < from + count; i += 1) {
      await ctx.store.append(`key-${keyId(i)}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId(i)), metadata: testMetadata() }]);
      if (i % 2 === 0)
        await ctx.store.append(`key-${keyId(i)}`, 1, [{ type: 'KeyRevoked', data: { keyId: keyId(i), reason: 'test' }, metadata: testMetadata() }]);
    }
  };
  const growTo = (size: number): Promise<number> =>
    eventually(
      `a tree of ${size} leaves`,
      async () => {
        await log.extend();
        return log.size();
      },
      (grown) => grown === size,
    );
  const asSuperuser = (sql: string, position: string): Promise<unknown> =>
    ctx.ownerDb.transaction(async (tx) => {
      await tx.query(`set local session_replication_role = replica`);
      await tx.query(sql, [position]);
    });

  beforeAll(async () => {
    expect({ built: existsSync(fileURLToPath(BUILT_WORKER)) }).toEqual({ built: true });
    ctx = await createTestContext('tlogthreads');
    auditorDb = await ctx.connectAs('auditor');
    const store = new PostgresEventStore(auditorDb, { authenticator: ctx.auth.authenticator, rejections: new RecordedRejections() });
    log = new PostgresTransparencyLog(auditorDb, store, NoteSigner.fromPrivateKey(privateKey), { batchSize: 7 });
    workers = {
      count: 2,
      database: { url: ctx.databaseUrl, schema: ctx.schema },
      eventKeys: parseVersionedSecrets(ctx.serviceEnv['KEYLEDGER_EVENT_KEYS']!, 'event key'),
      script: BUILT_WORKER,
    };
    await appendEvents(0, 6);
    await growTo(9);
    await log.signCheckpoint();
    await appendEvents(6, 4);
    await growTo(15);
    await log.signCheckpoint();
  });
  afterAll(() => ctx.close());

  it('passes an untouched store with the report checked here gives', async () => {
    const threaded = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], { ...ranged, workers });
    expect(threaded).toMatchObject({ ok: true, leavesChecked: 15, checkpointsChecked: 2, chains: { eventsChecked: 15, streamsChecked: 10 }, problems: [] });
    expect(threaded).toEqual(await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], ranged));
  });

  it('names a row altered in a later range and a row removed at a range boundary, as checked here', async () => {
    const leaves = await ctx.ownerDb.query<{ position: string; stream_id: string }[]>(
      `select l.position::text, e.stream_id from tlog_leaves l join events e using (position) order by l.leaf_index`,
    );
    // A KeyIssued that ends a range of two, its KeyRevoked beginning the next (on the other thread).
    const split = leaves.findIndex((leaf, i) => i % 2 === 1 && leaves[i + 1]?.stream_id === leaf.stream_id);
    expect(split).toBeGreaterThan(0);
    const [removed, next] = [leaves[split]!, leaves[split + 1]!];
    const altered = leaves[12]!;
    await asSuperuser(`update events set data = jsonb_set(data, '{owner}', '"someone-else"') where position = $1`, altered.position);
    await asSuperuser(`delete from events where position = $1`, removed.position);

    const threaded = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], { ...ranged, workers });
    expect(threaded.firstBadPosition).toBe(removed.position);
    expect(threaded.problems).toEqual(
      expect.arrayContaining([
        { kind: 'event-missing', leafIndex: split, position: removed.position },
        expect.objectContaining({ kind: 'event-altered', leafIndex: 12, position: altered.position }),
      ]),
    );
    expect(threaded.chains.breaks).toEqual([
      expect.objectContaining({ position: next.position, reason: 'missing-previous-event' }),
      expect.objectContaining({ position: altered.position, reason: 'hash-mismatch' }),
    ]);
    expect(threaded).toEqual(await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], ranged));
  });

  it('fails, rather than waits, when a thread ends without answering', async () => {
    const crashing = { ...workers, script: new URL('data:text/javascript,process.exit(3)') };
    await expect(verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], { ...ranged, workers: crashing })).rejects.toThrow(/exit code 3/);
  });

  it('fails with the database error when the threads cannot connect', async () => {
    const unreachable = { ...workers, database: { ...workers.database, url: 'postgres://root@127.0.0.1:1/test' } };
    await expect(verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], { ...ranged, workers: unreachable })).rejects.toThrow(/ECONNREFUSED/);
  });
});
