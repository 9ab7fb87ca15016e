import { randomBytes } from 'node:crypto';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testMetadata } from '@keyledger/testing';
import type { KeyRecord } from '@keyledger/key-domain';
import { SnapshotSeal } from '@keyledger/key-secrets';
import { KeyIndex } from './key-index.js';
import type { LiveKeyProjectionSettings } from './live-key-projection.js';
import { KEY_INDEX_SNAPSHOT_FORMAT } from './key-index-snapshot.js';
import { KEY_PROJECTION_SNAPSHOT, LiveKeyProjection, snapshotContext } from './live-key-projection.js';
import { ProjectionSnapshotStore } from './projection-snapshot-store.js';

const SETTINGS: LiveKeyProjectionSettings = {
  instanceId: 'snapshot-test',
  maxBusSilenceMs: 30_000,
  failClosed: true,
  heartbeatMs: 60_000,
  catchUpBatchSize: 7,
  announce: false,
};

let ctx: TestContext;
let store: ProjectionSnapshotStore;
const seal = new SnapshotSeal([{ version: 1, secret: randomBytes(32) }]);
const running: LiveKeyProjection[] = [];

const keyIdOf = (n: number): string => `key_${String(n).padStart(26, '0')}`;

const issue = (n: number) =>
  ctx.store.append(`key-${keyIdOf(n)}`, 0, [
    {
      type: 'KeyIssued',
      data: {
        keyId: keyIdOf(n),
        tenant: `tenant-${n % 2}`,
        owner: 'svc',
        environment: 'live',
        prefix: 'kl',
        digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: randomBytes(32).toString('hex') },
        hint: 'kl_live_…abcd',
        scopes: ['orders:read'],
        ipAllowlist: [],
        metadata: {},
      },
      metadata: testMetadata(),
    },
  ]);

async function startProjection(withSnapshots: boolean, sealer = seal): Promise<{ projection: LiveKeyProjection; index: KeyIndex }> {
  const index = new KeyIndex();
  const snapshots = withSnapshots ? { store, seal: sealer, everyEvents: 10, checkEveryMs: 60_000 } : undefined;
  const projection = new LiveKeyProjection({ ...ctx, index, snapshots }, SETTINGS);
  await projection.start();
  running.push(projection);
  return { projection, index };
}

const plain = (record: KeyRecord | undefined): unknown => record && { ...record, digest: record.digest, ipRanges: [] };

beforeAll(async () => {
  ctx = await createTestContext('snapshots');
  store = new ProjectionSnapshotStore(ctx.appDb, 256);
});
afterAll(async () => {
  await Promise.all(running.map((projection) => projection.stop()));
  await ctx.close();
});

describe('key projection snapshots', () => {
  it('starts from the stored snapshot plus the events after it, with the same result as a full replay', async () => {
    for (let n = 0; n < 30; n += 1) await issue(n);
    const first = await startProjection(true);
    expect(first.projection.status().startedFromSnapshot).toBe(false);
    // 30 events applied beyond no snapshot: one is taken in the background.
    const stored = await eventually(
      'snapshot stored',
      () => store.info(KEY_PROJECTION_SNAPSHOT),
      (info) => info !== undefined,
    );
    expect(stored!.byteLength).toBeGreaterThan(256); // several chunks

    await ctx.store.append(`key-${keyIdOf(3)}`, 1, [{ type: 'KeyRevoked', data: { keyId: keyIdOf(3), reason: 'test' }, metadata: testMetadata() }]);
    for (let n = 30; n < 35; n += 1) await issue(n);

    const fromSnapshot = await startProjection(true);
    const replayed = await startProjection(false);
    expect(fromSnapshot.projection.status().startedFromSnapshot).toBe(true);
    expect(fromSnapshot.index.size).toBe(35);
    for (let n = 0; n < 35; n += 1) expect(plain(fromSnapshot.index.get(keyIdOf(n)))).toEqual(plain(replayed.index.get(keyIdOf(n))));
    expect(fromSnapshot.index.get(keyIdOf(3))?.status).toBe('revoked');
    expect(fromSnapshot.projection.status().position).toEqual(replayed.projection.status().position);
  });

  it('never replaces a snapshot with an older one', async () => {
    const current = await store.load(KEY_PROJECTION_SNAPSHOT);
    expect(current).toBeDefined();
    const older = { ...current!, position: { transactionId: '1', position: '1' } };
    expect(await store.save(KEY_PROJECTION_SNAPSHOT, older)).toBe(false);
    expect((await store.info(KEY_PROJECTION_SNAPSHOT))?.position).toEqual(current!.position);
  });

  it('replays the store instead of loading a snapshot whose seal does not match its bytes or its position', async () => {
    const otherPepper = new SnapshotSeal([{ version: 1, secret: randomBytes(32) }]);
    const started = await startProjection(true, otherPepper);
    expect(started.projection.status().startedFromSnapshot).toBe(false);
    expect(started.index.size).toBe(35);

    // A sealed body stored beside a later position (to skip the events after it): refused.
    await ctx.ownerDb.query(`update projection_snapshots set position = position + 1000`);
    const moved = await startProjection(true);
    expect(moved.projection.status().startedFromSnapshot).toBe(false);
    expect(moved.index.size).toBe(35);
    await ctx.ownerDb.query(`update projection_snapshots set position = position - 1000`);

    // An edited row: one byte of the stored bytes flipped.
    await ctx.ownerDb.query(`update projection_snapshot_chunks set data = set_byte(data, 0, get_byte(data, 0) # 1) where seq = 0`);
    const tampered = await startProjection(true);
    expect(tampered.projection.status().startedFromSnapshot).toBe(false);
    expect(tampered.index.size).toBe(35);
  });

  it('replays the store instead of loading a snapshot of another format, even one sealed as it should be', async () => {
    // Undo the edit above: the stored snapshot is whole again.
    await ctx.ownerDb.query(`update projection_snapshot_chunks set data = set_byte(data, 0, get_byte(data, 0) # 1) where seq = 0`);
    const current = (await store.load(KEY_PROJECTION_SNAPSHOT))!;
    // What an older version would write after an event it did not know: its position past the
    // event, its index without it.
    await issue(35);
    // A replay reads only what no open transaction of the cluster can still precede (other
    // test files' included), so it may stop short of key_35 for a moment: take the head of one
    // that holds it.
    const latest = await eventually('a replay holding key_35', () => startProjection(false), ({ index }) => index.get(keyIdOf(35)) !== undefined);
    const head = latest.projection.status().position;
    const format = KEY_INDEX_SNAPSHOT_FORMAT - 1;
    const older = { format, position: head, body: current.body, seal: seal.seal(current.body, snapshotContext(format, head)) };
    expect(await store.save(KEY_PROJECTION_SNAPSHOT, older)).toBe(true);
    const started = await startProjection(true);
    expect(started.projection.status().startedFromSnapshot).toBe(false);
    expect(started.index.size).toBe(36);
    expect(started.index.get(keyIdOf(35))).toBeDefined();
  });
});
