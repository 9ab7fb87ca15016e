import type { TestContext } from '@keyledger/testing';
import { createTestContext, testEvent } from '@keyledger/testing';
import { verifyEventChains } from './chain-verifier.js';
import { NO_STREAM } from './postgres-event-store.js';

describe('append-only event table', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext('appendonly');
    await ctx.store.append('key-x1', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 }), testEvent({ n: 3 })]);
    await ctx.store.append('key-x2', NO_STREAM, [testEvent({ n: 1 }), testEvent({ n: 2 })]);
  });
  afterAll(() => ctx.close());

  it.each([
    ['UPDATE', `update events set data = '{"tampered":true}'`],
    ['DELETE', `delete from events where stream_id = 'key-x1'`],
    ['TRUNCATE', `truncate events`],
  ])('raises on %s even for the table owner', async (_op, sql) => {
    await expect(ctx.ownerDb.query(sql)).rejects.toThrow(/append-only/);
    expect(await ctx.store.readStream('key-x1')).toHaveLength(3);
  });

  it('grants the application role SELECT and INSERT only', async () => {
    const [row] = await ctx.ownerDb.query<Record<string, boolean>[]>(
      `select has_table_privilege($1, 'events', 'SELECT') as can_select, has_table_privilege($1, 'events', 'INSERT') as can_insert,
              has_table_privilege($1, 'events', 'UPDATE') as can_update, has_table_privilege($1, 'events', 'DELETE') as can_delete,
              has_table_privilege($1, 'events', 'TRUNCATE') as can_truncate`,
      ['keyledger_app'],
    );
    expect(row).toEqual({ can_select: true, can_insert: true, can_update: false, can_delete: false, can_truncate: false });
    await expect(ctx.appDb.query(`update events set type = 'KeyRevoked'`)).rejects.toThrow(/permission denied/);
  });

  it('verifies an untouched store', async () => {
    expect(await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator)).toMatchObject({ ok: true, streamsChecked: 2, eventsChecked: 5, breaks: [] });
  });

  it('reports a row changed by a superuser with triggers disabled, with its position', async () => {
    const [target] = await ctx.ownerDb.query<{ position: string }[]>(`select position::text from events where stream_id = 'key-x1' and stream_version = 2`);
    await ctx.ownerDb.transaction(async (manager) => {
      await manager.query(`set local session_replication_role = replica`);
      await manager.query(`update events set data = jsonb_set(data, '{metadata,n}', '"20"') where position = $1`, [target!.position]);
    });
    const report = await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator);
    expect(report.ok).toBe(false);
    expect(report.breaks).toEqual([{ streamId: 'key-x1', streamVersion: 2, position: target!.position, reason: 'hash-mismatch' }]);
  });

  it('reports a row removed by a superuser at the event that follows the gap', async () => {
    const [removed, next] = await ctx.ownerDb.query<{ position: string }[]>(
      `select position::text from events where stream_id = 'key-x2' order by stream_version`,
    );
    await ctx.ownerDb.transaction(async (manager) => {
      await manager.query(`set local session_replication_role = replica`);
      await manager.query(`delete from events where position = $1`, [removed!.position]);
    });
    const report = await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator, { streamId: 'key-x2' });
    expect(report.breaks).toEqual([{ streamId: 'key-x2', streamVersion: 2, position: next!.position, reason: 'missing-previous-event' }]);
  });
});
