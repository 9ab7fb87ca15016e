import type { DataSource } from 'typeorm';
import { NO_STREAM, PostgresEventStore } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';
import { RecordedRejections, createTestContext, eventually, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { parseCheckpoint } from './checkpoint.js';
import { eventLeafHash } from './event-leaf.js';
import { CompactRange, verifyConsistency, verifyInclusion } from './merkle-tree.js';
import { verifyTransparencyLog } from './log-verifier.js';
import { exportAuditBundle, verifyAuditBundle } from './audit-bundle.js';
import { PostgresTransparencyLog } from './postgres-transparency-log.js';
import { NoteSigner, openNote, parseVerifierKey } from './signed-note.js';
import { InconsistentTreeError } from './transparency-log.errors.js';

const keyId = (n: number): string => `key_${String(n).padStart(26, '0')}`;

describe('transparency log in Postgres', () => {
  let ctx: TestContext;
  let auditorDb: DataSource;
  let log: PostgresTransparencyLog;
  const { privateKey, verifierKey } = NoteSigner.generate('keyledger.test/audit');
  const vkey = parseVerifierKey(verifierKey);

  /** Keys issued, each on its own stream, then half of them revoked: events interleaved across streams. */
  const appendEvents = async (from: number, count: number): Promise<void> => {
    for (let i = from; i < from + count; i += 1) {
      await ctx.store.append(`key-${keyId(i)}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId(i)), metadata: testMetadata() }]);
      if (i % 2 === 0) await ctx.store.append(`key-${keyId(i)}`, 1, [{ type: 'KeyRevoked', data: { keyId: keyId(i), reason: 'test' }, metadata: testMetadata() }]);
    }
  };

  /** The root of every event of the store, in the order a global reader reads them. */
  const storeRoot = async (): Promise<{ root: Buffer; size: number }> => {
    const range = new CompactRange();
    let after = { transactionId: '0', position: '0' };
    for (;;) {
      const page = await ctx.store.readAll(after, 100);
      for (const event of page.events) range.append(eventLeafHash(event));
      if (!page.end || page.rows < 100) return { root: range.root(), size: range.size };
      after = page.end;
    }
  };

  /**
   * Grows the tree until it holds `size` leaves: the store's readers stop below the oldest
   * transaction running anywhere on the server, and other test files share it.
   */
  const growTo = async (size: number): Promise<void> => {
    const grow = async (): Promise<number> => {
      await log.extend();
      return log.size();
    };
    await eventually(`a tree of ${size} leaves`, grow, (grown) => grown === size);
  };

  beforeEach(async () => {
    ctx = await createTestContext('tlog');
    // As the auditor runs: its own role, with what DATABASE_GRANTS gives it.
    auditorDb = await ctx.connectAs('auditor');
    log = new PostgresTransparencyLog(auditorDb, new PostgresEventStore(auditorDb, { authenticator: ctx.auth.authenticator, rejections: new RecordedRejections() }), NoteSigner.fromPrivateKey(privateKey), {
      batchSize: 7,
    });
  });

  afterEach(async () => {
    await ctx.close();
  });

  it('grows in log order, once per event however often it runs, and signs checkpoints of the store as it is', async () => {
    await appendEvents(0, 10);
    await growTo(15);
    expect(await log.extend()).toBe(0);
    const { checkpoint, signed } = await log.signCheckpoint();
    expect(signed).toBe(true);
    const opened = parseCheckpoint(openNote(checkpoint.note, [vkey]).text);
    const expected = await storeRoot();
    expect({ origin: opened.origin, size: opened.size, root: opened.rootHash.toString('hex') }).toEqual({
      origin: 'keyledger.test/audit',
      size: 15,
      root: expected.root.toString('hex'),
    });
    expect((await log.signCheckpoint()).signed).toBe(false);
  });

  it('adds each event once when two passes race', async () => {
    await appendEvents(0, 20);
    // A leaf added twice would break tlog_leaves' unique keys, and the pass would throw.
    await Promise.all([log.extend(), log.extend(), log.extend()]);
    await growTo(30);
    const [leaves] = await ctx.ownerDb.query<{ count: number }[]>(`select count(*)::int as count from tlog_leaves`);
    expect(leaves?.count).toBe(30);
    expect((await log.signCheckpoint()).checkpoint.rootHash).toEqual((await storeRoot()).root);
  });

  it('proves an event included in a signed checkpoint, and two checkpoints consistent', async () => {
    await appendEvents(0, 5);
    await growTo(8);
    const first = (await log.signCheckpoint()).checkpoint;
    await appendEvents(5, 9);
    await growTo(21);
    const second = (await log.signCheckpoint()).checkpoint;
    const [revoked] = await ctx.store.readStream(`key-${keyId(4)}`, 2);
    const answer = await log.inclusion({ eventId: revoked!.eventId });
    expect(answer.checkpoint.treeSize).toBe(second.treeSize);
    const root = parseCheckpoint(openNote(answer.checkpoint.note, [vkey]).text).rootHash;
    // Checked as an outsider does: from the event it holds, the proof and the signed checkpoint.
    expect(verifyInclusion(answer.leaf.leafIndex, answer.checkpoint.treeSize, eventLeafHash(revoked!), answer.proof, root)).toBe(true);
    expect(verifyInclusion(answer.leaf.leafIndex, answer.checkpoint.treeSize, eventLeafHash({ ...revoked!, data: { keyId: keyId(4), reason: 'other' } }), answer.proof, root)).toBe(false);
    const byPosition = await log.inclusion({ position: revoked!.position }, first.treeSize);
    expect(verifyInclusion(byPosition.leaf.leafIndex, first.treeSize, eventLeafHash(revoked!), byPosition.proof, first.rootHash)).toBe(true);
    const consistency = await log.consistency(first.treeSize, second.treeSize);
    expect(verifyConsistency(first.treeSize, second.treeSize, first.rootHash, second.rootHash, consistency.proof)).toBe(true);
    await expect(log.consistency(first.treeSize, second.treeSize + 1)).rejects.toThrow(/no checkpoint covers/);
    await expect(log.inclusion({ eventId: '0190a3f0-0000-7000-8000-000000000001' })).rejects.toThrow(/not in the log/);
  });

  it('refuses to sign a tree changed behind its back, and signs nothing', async () => {
    await appendEvents(0, 8);
    await growTo(12);
    await log.signCheckpoint();
    await appendEvents(8, 4);
    await growTo(18);
    // The schema owner rewrites an old leaf and the subtrees above it, consistently with each other.
    await ctx.ownerDb.query(`update tlog_leaves set leaf_hash = sha256('forged') where leaf_index = 3`);
    await ctx.ownerDb.query(`delete from tlog_nodes`);
    const rebuilt = new CompactRange();
    const leaves = await ctx.ownerDb.query<{ leaf_hash: Buffer }[]>(`select leaf_hash from tlog_leaves order by leaf_index`);
    for (const { leaf_hash } of leaves) {
      for (const { node, hash } of rebuilt.append(leaf_hash)) await ctx.ownerDb.query(`insert into tlog_nodes values ($1, $2, $3)`, [node.level, node.index, hash]);
    }
    await expect(log.signCheckpoint()).rejects.toThrow(InconsistentTreeError);
    const [checkpoints] = await ctx.ownerDb.query<{ count: number }[]>(`select count(*)::int as count from tlog_checkpoints`);
    expect(checkpoints?.count).toBe(1);
  });

  it('gives the auditor no way to rewrite or remove a leaf, a node or a checkpoint', async () => {
    await appendEvents(0, 2);
    await growTo(3);
    await log.signCheckpoint();
    for (const sql of [`update tlog_leaves set leaf_hash = leaf_hash`, `delete from tlog_nodes`, `delete from tlog_checkpoints`, `update tlog_checkpoints set note = note`]) {
      await expect(auditorDb.query(sql)).rejects.toThrow(/permission denied/);
    }
  });

  it('exports a bundle that verifies offline with the key alone, and refuses it tampered or under another key', async () => {
    await appendEvents(0, 9);
    await growTo(14);
    await log.signCheckpoint();
    const [third] = (await ctx.store.readAll({ transactionId: '0', position: '0' }, 3)).events.slice(2);
    const bundle = await exportAuditBundle(auditorDb, { position: third!.position }, 4);
    expect(bundle.events.map((e) => e.leafIndex)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    // Through JSON, as a file carries it.
    const carried: unknown = JSON.parse(JSON.stringify(bundle));
    expect(verifyAuditBundle(carried, [vkey])).toMatchObject({ ok: true, eventsChecked: 12, problems: [], checkpoint: { treeSize: 14 } });

    const tampered = JSON.parse(JSON.stringify(bundle)) as typeof bundle;
    tampered.events[4]!.event.data = { ...(tampered.events[4]!.event.data as object), tenant: 'other' };
    expect(verifyAuditBundle(tampered, [vkey]).problems).toEqual([{ kind: 'not-in-checkpoint', leafIndex: 6, position: bundle.events[4]!.position }]);
    const moved = JSON.parse(JSON.stringify(bundle)) as typeof bundle;
    moved.events[1]!.leafIndex = 2;
    expect(verifyAuditBundle(moved, [vkey]).ok).toBe(false);
    const stranger = parseVerifierKey(NoteSigner.generate('keyledger.test/audit').verifierKey);
    expect(verifyAuditBundle(carried, [stranger]).problems).toEqual([expect.objectContaining({ kind: 'checkpoint' })]);
    expect(verifyAuditBundle({ format: 'something else' }, [vkey]).problems).toEqual([expect.objectContaining({ kind: 'malformed' })]);
  });

  describe('audit verify', () => {
    it('passes an untouched store and names the position of a row a superuser altered with triggers off', async () => {
      await appendEvents(0, 12);
      await growTo(18);
      await log.signCheckpoint();
      const clean = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], { pageSize: 5 });
      expect(clean).toMatchObject({ ok: true, leavesChecked: 18, checkpointsChecked: 1, problems: [], latestCheckpoint: { treeSize: 18, matches: true } });

      const [target] = await ctx.store.readStream(`key-${keyId(6)}`, 2);
      await ctx.ownerDb.transaction(async (tx) => {
        await tx.query(`set local session_replication_role = replica`);
        await tx.query(`update events set data = jsonb_set(data, '{reason}', '"rewritten"') where position = $1`, [target!.position]);
      });
      const report = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], { pageSize: 5 });
      expect(report.ok).toBe(false);
      expect(report.firstBadPosition).toBe(target!.position);
      expect(report.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'event-altered', position: target!.position }), { kind: 'checkpoint-mismatch', treeSize: 18 }]));
      expect(report.latestCheckpoint?.matches).toBe(false);
      expect(report.chains.breaks.map((b) => b.position)).toContain(target!.position);
    });

    it('joins ranges of leaves verified apart: checkpoints inside and at the end of a range match, and a row altered in the second range is named first', async () => {
      await appendEvents(0, 6);
      await growTo(9);
      await log.signCheckpoint();
      await appendEvents(6, 4);
      await growTo(15);
      await log.signCheckpoint();
      const ranged = { pageSize: 3, rangeLeaves: 4 };
      expect(await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], ranged)).toMatchObject({
        ok: true,
        leavesChecked: 15,
        checkpointsChecked: 2,
        chains: { eventsChecked: 15, streamsChecked: 10 },
        problems: [],
      });

      // Leaf 5, in the second range of four, and leaf 13, in the fourth (a KeyRevoked whose KeyIssued is in the third).
      const leafAt = async (index: number): Promise<string> =>
        (await ctx.ownerDb.query<{ position: string }[]>(`select position::text from tlog_leaves where leaf_index = $1`, [index]))[0]!.position;
      const altered = await leafAt(5);
      await ctx.ownerDb.transaction(async (tx) => {
        await tx.query(`set local session_replication_role = replica`);
        await tx.query(`update events set data = jsonb_set(data, '{reason}', '"rewritten"') where position = $1`, [altered]);
        await tx.query(`update events set data = jsonb_set(data, '{reason}', '"rewritten"') where position = $1`, [await leafAt(13)]);
      });
      const report = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], ranged);
      expect(report.firstBadPosition).toBe(altered);
      expect(report.problems).toEqual([
        { kind: 'event-altered', leafIndex: 5, position: altered },
        { kind: 'event-altered', leafIndex: 13, position: await leafAt(13) },
        { kind: 'checkpoint-mismatch', treeSize: 9 },
        { kind: 'checkpoint-mismatch', treeSize: 15 },
      ]);
      expect(report.chains.breaks).toEqual([
        expect.objectContaining({ position: altered, reason: 'hash-mismatch' }),
        expect.objectContaining({ position: await leafAt(13), streamVersion: 2, reason: 'hash-mismatch' }),
      ]);
    });

    it('finds a chain broken across a range boundary, and a removed leaf row, at their places', async () => {
      await appendEvents(0, 6);
      await growTo(9);
      await log.signCheckpoint();
      const ranged = { pageSize: 2, rangeLeaves: 2 };
      const leaves = await ctx.ownerDb.query<{ leaf_index: string; position: string; stream_id: string }[]>(
        `select l.leaf_index::text, l.position::text, e.stream_id from tlog_leaves l join events e using (position) order by l.leaf_index`,
      );
      // A stream whose first event ends one range and whose second begins the next.
      const split = leaves.findIndex((leaf, i) => i % 2 === 1 && leaves[i + 1]?.stream_id === leaf.stream_id);
      expect(split).toBeGreaterThan(0);
      const [removed, next] = [leaves[split]!, leaves[split + 1]!];
      await ctx.ownerDb.transaction(async (tx) => {
        await tx.query(`set local session_replication_role = replica`);
        await tx.query(`delete from events where position = $1`, [removed.position]);
      });
      const report = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], ranged);
      expect(report.chains.breaks).toEqual([expect.objectContaining({ position: next.position, streamVersion: 2, reason: 'missing-previous-event' })]);
      expect(report.problems).toEqual([
        { kind: 'event-missing', leafIndex: split, position: removed.position },
        { kind: 'checkpoint-mismatch', treeSize: 9 },
      ]);
      expect(report.firstBadPosition).toBe(removed.position);

      await ctx.ownerDb.query(`delete from tlog_leaves where leaf_index = 6`);
      expect((await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey], ranged)).problems).toEqual([
        { kind: 'event-missing', leafIndex: split, position: removed.position },
        { kind: 'leaf-missing', leafIndex: 6 },
        { kind: 'event-not-in-log', position: leaves[6]!.position },
        { kind: 'checkpoint-mismatch', treeSize: 9 },
      ]);
    });

    it('finds a checkpoint that is not signed by the log key', async () => {
      await appendEvents(0, 3);
      await growTo(5);
      await log.signCheckpoint();
      const other = NoteSigner.fromPrivateKey(NoteSigner.generate('keyledger.test/audit').privateKey);
      await ctx.ownerDb.query(`update tlog_checkpoints set note = $1`, [other.sign((await log.latestCheckpoint())!.note.split('\n\n')[0]! + '\n')]);
      const report = await verifyTransparencyLog(ctx.ownerDb, ctx.auth.authenticator, [vkey]);
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'checkpoint-signature', treeSize: 5 })]);
    });
  });
});
