import { randomBytes } from 'node:crypto';
import { AuditTrailProjection } from '@keyledger/audit-trail';
import { rebuildProjection } from '@keyledger/consumer-runtime';
import type { EventType, GlobalPosition } from '@keyledger/contracts';
import { streamIdOf } from '@keyledger/contracts';
import { KEY_INDEX_SNAPSHOT_FORMAT, KEY_PROJECTION_SNAPSHOT, KeyIndex, ProjectionSnapshotStore, encodeKeyIndex, snapshotContext } from '@keyledger/key-projection';
import { SnapshotSeal } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { replayAuditTrail } from './replay-audit-trail.js';
import { SnapshotUnusableError, replayKeyIndex } from './replay-key-index.js';

const keyId = (n: number): string => `key_${String(n).padStart(26, '0')}`;

/**
 * `keyledger replay` on real Postgres: the projection rebuilt from the store beside the live
 * one agrees with an honest live projection, and names each entry a database owner edited,
 * deleted or invented in it; what the live projection has not applied yet is no difference.
 */
describe('projection replay', () => {
  let ctx: TestContext;
  const seal = new SnapshotSeal([{ version: 1, secret: randomBytes(32) }]);

  /**
   * Appends one event and waits until store readers see it: they stop below the oldest
   * transaction still open on the server, and on a shared server another test's may be.
   */
  async function record(n: number, type: EventType, data: Record<string, unknown>): Promise<GlobalPosition> {
    const stream = streamIdOf('key', keyId(n));
    const { events } = await ctx.store.append(stream, await ctx.store.streamVersion(stream), [{ type, data, metadata: testMetadata({ actor: 'admin-key:key_alice' }) }]);
    const appended = events[0]!;
    await eventually(
      'the event readable from the store',
      () => ctx.store.readAll({ transactionId: '0', position: '0' }, 10_000),
      (page) => page.events.some((event) => event.position === appended.position),
      60_000,
    );
    return appended;
  }

  /** The index a service would hold after the store's events up to `until`, stored as the newest snapshot. */
  async function storeSnapshot(until: GlobalPosition, edit?: (index: KeyIndex) => void): Promise<void> {
    const index = new KeyIndex();
    const page = await ctx.store.readPayloads({ transactionId: '0', position: '0' }, 10_000, ['key', 'credits']);
    for (const event of page.events) if (BigInt(event.position) <= BigInt(until.position)) index.apply(event);
    edit?.(index);
    const body = encodeKeyIndex(index);
    await ctx.ownerDb.query(`delete from projection_snapshots`);
    await new ProjectionSnapshotStore(ctx.ownerDb).save(KEY_PROJECTION_SNAPSHOT, {
      format: KEY_INDEX_SNAPSHOT_FORMAT,
      position: until,
      seal: seal.seal(body, snapshotContext(KEY_INDEX_SNAPSHOT_FORMAT, until)),
      body,
    });
  }

  beforeAll(async () => {
    ctx = await createTestContext('replay');
    await record(1, 'KeyIssued', testKeyIssuedData(keyId(1), 'acme', { owner: 'billing', scopes: ['orders:read'] }));
    await record(2, 'KeyIssued', testKeyIssuedData(keyId(2), 'globex'));
    await record(1, 'KeySuspended', { keyId: keyId(1), reason: 'audit' });
    await record(2, 'KeyRevoked', { keyId: keyId(2), reason: 'retired' });
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('rebuilds the audit trail beside the live one, agrees with it, and leaves no scratch schema', async () => {
    const report = await replayAuditTrail(ctx.ownerDb, ctx.store, ctx.schema);
    expect(report).toMatchObject({ projection: 'audit-trail', events: 4, refused: 0, entries: 4, notYetLive: 0, differenceCount: 0, differences: [] });
    expect(report.eventsPerSecond).toBeGreaterThan(0);
    const [left] = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from pg_namespace where nspname like 'keyledger_replay_%'`);
    expect(left!.n).toBe(0);
  });

  it('names each trail row edited, deleted or invented, and counts events the live trail has not applied yet apart', async () => {
    const idOf = async (type: string, stream: number) =>
      (await ctx.ownerDb.query<{ event_id: string }[]>(`select event_id::text from audit_trail where type = $1 and stream_id = $2`, [type, streamIdOf('key', keyId(stream))]))[0]!
        .event_id;
    const issued = await idOf('KeyIssued', 2);
    const suspended = await idOf('KeySuspended', 1);
    const invented = '00000000-0000-4000-8000-000000000001';
    await ctx.ownerDb.query(`update audit_trail set actor = 'admin-key:key_mallory' where event_id = $1`, [issued]);
    await ctx.ownerDb.query(`delete from audit_trail where event_id = $1`, [suspended]);
    await ctx.ownerDb.query(
      `insert into audit_trail (event_id, transaction_id, position, stream_id, stream_version, type, tenant, owner, actor, correlation_id, causation_id, occurred_at)
       select $1, transaction_id, position, stream_id, 9, 'KeyResumed', tenant, owner, actor, correlation_id, causation_id, occurred_at from audit_trail where event_id = $2`,
      [invented, issued],
    );
    // Committed after the live trail was built: the auditor has not applied it yet.
    await record(1, 'KeyResumed', { keyId: keyId(1) });
    try {
      const report = await replayAuditTrail(ctx.ownerDb, ctx.store, ctx.schema);
      expect(report).toMatchObject({ events: 5, entries: 5, notYetLive: 1, differenceCount: 3 });
      expect(report.differences.map(({ id, kind, fields, live, replayed }) => ({ id, kind, fields, live, replayed }))).toEqual(
        expect.arrayContaining([
          { id: issued, kind: 'field', fields: ['actor'], live: { actor: 'admin-key:key_mallory' }, replayed: { actor: 'admin-key:key_alice' } },
          expect.objectContaining({ id: suspended, kind: 'missing-live' }),
          expect.objectContaining({ id: invented, kind: 'missing-replayed' }),
        ]),
      );
    } finally {
      await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
    }
    expect(await replayAuditTrail(ctx.ownerDb, ctx.store, ctx.schema)).toMatchObject({ notYetLive: 0, differenceCount: 0 });
  });

  it('counts events past the newest the live trail holds as not applied yet, not as differences', async () => {
    await record(1, 'KeySuspended', { keyId: keyId(1), reason: 'again' });
    const report = await replayAuditTrail(ctx.ownerDb, ctx.store, ctx.schema);
    expect(report).toMatchObject({ notYetLive: 1, differenceCount: 0 });
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
  });

  it('names rows deleted from the end of the trail, which its consumer had applied, rather than counting them as lag', async () => {
    const [newest] = await ctx.ownerDb.query<{ event_id: string }[]>(`select event_id::text from audit_trail order by transaction_id desc, position desc limit 1`);
    await ctx.ownerDb.query(`delete from audit_trail where event_id = $1`, [newest!.event_id]);
    try {
      const report = await replayAuditTrail(ctx.ownerDb, ctx.store, ctx.schema);
      expect(report).toMatchObject({ notYetLive: 0, differenceCount: 1, differences: [expect.objectContaining({ id: newest!.event_id, kind: 'missing-live' })] });
    } finally {
      await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
    }
  });

  it('rebuilds the key index up to the stored snapshot and agrees with an honest one', async () => {
    const head = (await ctx.store.readAll({ transactionId: '0', position: '0' }, 10_000)).end!;
    await storeSnapshot(head);
    expect(await replayKeyIndex(ctx.ownerDb, ctx.store, seal)).toMatchObject({ projection: 'key-index', entries: 2, differenceCount: 0, refused: 0 });
  });

  it('names the keys a snapshot holds differently from the store', async () => {
    const head = (await ctx.store.readAll({ transactionId: '0', position: '0' }, 10_000)).end!;
    // A snapshot that missed key 1's last suspension and knows a key the store never issued, properly sealed.
    await storeSnapshot(head, (index) => {
      index.apply({ type: 'KeyResumed', data: { keyId: keyId(1) }, streamVersion: index.get(keyId(1))!.version + 1 });
      index.apply({ type: 'KeyIssued', data: testKeyIssuedData(keyId(3), 'acme'), streamVersion: 1 });
    });
    const report = await replayKeyIndex(ctx.ownerDb, ctx.store, seal);
    expect(report.differenceCount).toBe(2);
    expect(report.differences).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: keyId(1), kind: 'field', fields: expect.arrayContaining(['status', 'version']) }),
        expect.objectContaining({ id: keyId(3), kind: 'missing-replayed' }),
      ]),
    );
  });

  it('refuses to compare with a snapshot that does not verify, as no service would load it', async () => {
    await ctx.ownerDb.query(`update projection_snapshot_chunks set data = data || '\\x00'::bytea`);
    await expect(replayKeyIndex(ctx.ownerDb, ctx.store, seal)).rejects.toThrow(SnapshotUnusableError);
    await expect(replayKeyIndex(ctx.ownerDb, ctx.store, new SnapshotSeal([{ version: 1, secret: randomBytes(32) }]))).rejects.toThrow(/does not verify/);
  });
});
