import type { DataSource, QueryRunner } from 'typeorm';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, testEvent } from '@keyledger/testing';
import { ConcurrencyConflictError, STREAM_VERSION_GAP_SQLSTATE, StreamVersionGapError, streamVersionGapOf } from './event-store.errors.js';
import { NO_STREAM, PostgresEventStore } from './postgres-event-store.js';

const METADATA = '{"actor":"a","correlationId":"c","causationId":"c"}';
const COLUMNS = 'event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, hash';

let eventCounter = 0;
/** A row as a writer going around the store would send it: any 32-byte hash, a fresh event id. */
function row(streamId: string, version: number, ...extra: string[]): string {
  eventCounter += 1;
  const eventId = `0190a3f0-0000-7000-8000-${eventCounter.toString(16).padStart(12, '0')}`;
  return `('${eventId}', '${streamId}', ${version}, 'KeySuspended', 1, '{}', '${METADATA}', now(), decode(repeat('00', 32), 'hex')${extra.map((value) => `, ${value}`).join('')})`;
}

/** The failure of `run`, which must fail. */
async function failureOf(run: Promise<unknown>): Promise<unknown> {
  try {
    await run;
  } catch (error) {
    return error;
  }
  throw new Error('expected the statement to be refused');
}

describe('what the database decides for every event, whoever writes it', () => {
  let ctx: TestContext;
  let writer: DataSource;
  beforeAll(async () => {
    ctx = await createTestContext('dbrules');
    // The issuer's own role: a writer, as a compromised issuer would be.
    writer = await ctx.connectAs('issuer');
  });
  afterAll(() => ctx.close());

  const versions = async (streamId: string): Promise<number[]> =>
    (await ctx.ownerDb.query<{ v: number }[]>(`select stream_version as v from events where stream_id = $1 order by stream_version`, [streamId])).map(
      (r) => r.v,
    );

  describe('columns the writer does not choose', () => {
    it('replaces a chosen position, transaction id and recording time with its own', async () => {
      const runner = writer.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        const [tx] = (await runner.query(`select pg_current_xact_id()::text as xid, clock_timestamp() as clock`)) as { xid: string; clock: Date }[];
        const [stored] = (await runner.query(
          `insert into events (${COLUMNS}, position, transaction_id, recorded_at) overriding system value
           values ${row('key-forged1', 1, '424242', `'3'::xid8`, `'2000-01-01T00:00:00Z'`)}
           returning position::text, transaction_id::text, recorded_at`,
        )) as { position: string; transaction_id: string; recorded_at: Date }[];
        await runner.commitTransaction();
        expect(stored!.transaction_id).toBe(tx!.xid);
        expect(stored!.position).not.toBe('424242');
        expect(stored!.recorded_at.getTime()).toBeGreaterThanOrEqual(tx!.clock.getTime());
      } finally {
        await runner.release();
      }
      // The forged row went to the end of the log, at the place the sequence gave it.
      const [last] = await ctx.ownerDb.query<{ stream_id: string }[]>(`select stream_id from events order by position desc limit 1`);
      expect(last!.stream_id).toBe('key-forged1');
    });

    it('gives the rows of one statement consecutive places in the log, in their order', async () => {
      const stored = await writer.query<{ stream_version: number; position: string }[]>(
        `insert into events (${COLUMNS}, position) overriding system value
         values ${[1, 2, 3].map((v) => row('key-forged2', v, String(999_999 - v))).join(', ')}
         returning stream_version, position::text`,
      );
      const positions = stored.sort((a, b) => a.stream_version - b.stream_version).map((r) => BigInt(r.position));
      expect(positions.every((position) => position < 999_990n)).toBe(true);
      expect(positions[1]! - positions[0]!).toBe(1n);
      expect(positions[2]! - positions[1]!).toBe(1n);
    });

    it('keeps its rules when the writer sets its own search_path and hides a table named events', async () => {
      const runner = writer.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        // A trigger that looked here would see the stream at version 3 and take version 4.
        await runner.query(`create temporary table events (stream_id text, stream_version int) on commit drop`);
        await runner.query(`insert into pg_temp.events values ('key-forged3', 1), ('key-forged3', 2), ('key-forged3', 3)`);
        await runner.query(`set local search_path = pg_temp, pg_catalog`);
        const error = await failureOf(runner.query(`insert into ${ctx.schema}.events (${COLUMNS}) values ${row('key-forged3', 4)}`));
        expect(streamVersionGapOf(error)).toBeInstanceOf(StreamVersionGapError);
      } finally {
        await rollback(runner);
      }
      expect(await versions('key-forged3')).toEqual([]);
    });

    it('cannot be switched off by a writer', async () => {
      await expect(writer.query(`alter table events disable trigger events_admit`)).rejects.toThrow(/must be owner/);
      await expect(writer.query(`select setval('events_position', 1)`)).rejects.toThrow(/permission denied/);
      await expect(writer.query(`select nextval('events_position')`)).rejects.toThrow(/permission denied/);
    });
  });

  describe('consecutive stream versions', () => {
    it('refuses a first event that is not version 1, with a typed error naming the stream', async () => {
      const error = await failureOf(writer.query(`insert into events (${COLUMNS}) values ${row('key-gap1', 2)}`));
      expect((error as { driverError?: { code?: string } }).driverError?.code).toBe(STREAM_VERSION_GAP_SQLSTATE);
      expect(streamVersionGapOf(error)).toMatchObject({ code: 'STREAM_VERSION_GAP', retryable: false, streamId: 'key-gap1', version: 2, headVersion: 0 });
      expect(await versions('key-gap1')).toEqual([]);
    });

    it('refuses a version past the newest plus one, and takes the next one', async () => {
      await ctx.store.append('key-gap2', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 }), testEvent({ n: 3 })]);
      expect(streamVersionGapOf(await failureOf(writer.query(`insert into events (${COLUMNS}) values ${row('key-gap2', 5)}`)))).toMatchObject({
        version: 5,
        headVersion: 3,
      });
      await writer.query(`insert into events (${COLUMNS}) values ${row('key-gap2', 4)}`);
      expect(await versions('key-gap2')).toEqual([1, 2, 3, 4]);
    });

    it('checks every row of a multi-row insert against the rows before it in the same statement', async () => {
      await writer.query(`insert into events (${COLUMNS}) values ${[1, 2, 3].map((v) => row('key-multi1', v)).join(', ')}`);
      expect(await versions('key-multi1')).toEqual([1, 2, 3]);
      // A hole inside the statement, and the right versions in the wrong order: the whole statement goes.
      for (const batch of [
        [4, 6],
        [5, 4],
        [4, 5, 7],
      ]) {
        const error = await failureOf(writer.query(`insert into events (${COLUMNS}) values ${batch.map((v) => row('key-multi1', v)).join(', ')}`));
        expect(streamVersionGapOf(error)).toBeInstanceOf(StreamVersionGapError);
      }
      expect(await versions('key-multi1')).toEqual([1, 2, 3]);
    });

    it('leaves a version already taken to the unique index, so the store still answers a lost race as a conflict', async () => {
      await ctx.store.append('key-taken', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
      const raw = await failureOf(writer.query(`insert into events (${COLUMNS}) values ${row('key-taken', 2)}`));
      expect((raw as { driverError?: { code?: string } }).driverError?.code).toBe('23505');
      expect(streamVersionGapOf(raw)).toBeUndefined();
      const store = new PostgresEventStore(writer, ctx.auth);
      await expect(store.append('key-taken', 1, [testEvent({ late: true })])).rejects.toBeInstanceOf(ConcurrencyConflictError);
    });

    it('turns a race that the head moved under into a conflict: the later writer waits on the index, not on the trigger', async () => {
      // First writer: version 1 inserted, not committed. Second: the same version; its trigger
      // cannot see the first row, so only the index decides, once the first commits.
      const first = writer.createQueryRunner();
      await first.connect();
      try {
        await first.startTransaction();
        const [tx] = (await first.query(`select pg_current_xact_id()::text as xid`)) as { xid: string }[];
        await first.query(`insert into events (${COLUMNS}) values ${row('key-race2', 1)}`);
        const second = new PostgresEventStore(writer, ctx.auth).append('key-race2', NO_STREAM, [testEvent({ second: true })]);
        second.catch(() => undefined);
        await waitUntil(ctx.ownerDb, `select exists (select 1 from pg_locks where locktype = 'transactionid' and transactionid = $1::text::xid and not granted) as ok`, [
          tx!.xid,
        ]);
        await first.commitTransaction();
        await expect(second).rejects.toMatchObject({ code: 'CONCURRENCY_CONFLICT', actualVersion: 1 });
      } finally {
        await rollback(first);
      }
      expect(await versions('key-race2')).toEqual([1]);
    });

    it('does not make an append to one stream wait for an open append to another', async () => {
      const open = writer.createQueryRunner();
      await open.connect();
      try {
        await open.startTransaction();
        await open.query(`insert into events (${COLUMNS}) values ${row('key-parallel1', 1)}`);
        const other = writer.createQueryRunner();
        await other.connect();
        try {
          // Would fail instead of hanging if the other stream's open insert held anything this one needs.
          await other.query(`set lock_timeout = '5s'`);
          await other.query(`set statement_timeout = '10s'`);
          await other.query(`insert into events (${COLUMNS}) values ${[1, 2].map((v) => row('key-parallel2', v)).join(', ')}`);
        } finally {
          await other.query(`reset lock_timeout`);
          await other.query(`reset statement_timeout`);
          await other.release();
        }
        expect(await versions('key-parallel2')).toEqual([1, 2]);
        await open.commitTransaction();
      } finally {
        await rollback(open);
      }
      expect(await versions('key-parallel1')).toEqual([1]);
    });
  });
});

async function rollback(runner: QueryRunner): Promise<void> {
  if (runner.isTransactionActive) await runner.rollbackTransaction();
  if (!runner.isReleased) await runner.release();
}

/** Polls `sql` (answering `ok`) until it is true. */
async function waitUntil(db: DataSource, sql: string, parameters: unknown[]): Promise<void> {
  for (;;) {
    const [answer] = await db.query<{ ok: boolean }[]>(sql, parameters);
    if (answer?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
