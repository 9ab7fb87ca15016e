import { randomBytes } from 'node:crypto';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, testMetadata } from '@keyledger/testing';
import { newPrefixedId } from '@keyledger/ids';
import { KeyHasher, SnapshotSeal } from '@keyledger/key-secrets';
import { KeyIndex } from './key-index.js';
import { KeyVerifier } from './key-verifier.js';
import type { LiveKeyProjectionSettings } from './live-key-projection.js';
import { LiveKeyProjection } from './live-key-projection.js';
import { ProjectionSnapshotStore } from './projection-snapshot-store.js';

const SETTINGS: LiveKeyProjectionSettings = {
  instanceId: 'start-test',
  maxBusSilenceMs: 30_000,
  failClosed: true,
  heartbeatMs: 60_000,
  catchUpBatchSize: 100,
  announce: false,
};

let ctx: TestContext;
let snapshots: { store: ProjectionSnapshotStore; seal: SnapshotSeal; everyEvents: number; checkEveryMs: number };
const peppers = [{ version: 1, secret: randomBytes(32) }];
const hasher = new KeyHasher(peppers);
const running: LiveKeyProjection[] = [];

async function issue(keyId: string): Promise<string> {
  const material = hasher.newKey('kl', 'live');
  await ctx.store.append(`key-${keyId}`, 0, [
    {
      type: 'KeyIssued',
      data: {
        keyId,
        tenant: 'acme',
        owner: 'svc',
        environment: 'live',
        prefix: 'kl',
        digest: material.digest,
        hint: material.hint,
        scopes: ['orders:read'],
        ipAllowlist: [],
        metadata: {},
      },
      metadata: testMetadata(),
    },
  ]);
  return material.plaintext;
}

function projectionWithVerifier(): { projection: LiveKeyProjection; verifier: KeyVerifier; index: KeyIndex } {
  const index = new KeyIndex();
  const projection = new LiveKeyProjection({ ...ctx, index, snapshots }, SETTINGS);
  running.push(projection);
  return { projection, index, verifier: new KeyVerifier(index, hasher, { projection }) };
}

beforeAll(async () => {
  ctx = await createTestContext('projection_start');
  snapshots = { store: new ProjectionSnapshotStore(ctx.appDb), seal: new SnapshotSeal(peppers), everyEvents: 1_000_000, checkEveryMs: 3_600_000 };
});
afterAll(async () => {
  await Promise.all(running.map((projection) => projection.stop()));
  await ctx.close();
});

describe('a key projection that has not caught up', () => {
  it('answers UNAVAILABLE, never a guess, until it has applied the store beyond its old snapshot', async () => {
    const revokedId = newPrefixedId('key');
    const revoked = await issue(revokedId);
    const old = projectionWithVerifier();
    await old.projection.start();
    expect(old.verifier.verify(revoked, {}, Date.now()).code).toBe('VALID');
    expect(await old.projection.takeSnapshot()).toBe(true);

    // After the snapshot: the key is revoked and another is issued.
    await ctx.store.append(`key-${revokedId}`, 1, [{ type: 'KeyRevoked', data: { keyId: revokedId, reason: 'leaked' }, metadata: testMetadata() }]);
    const issuedLater = await issue(newPrefixedId('key'));

    const restarted = projectionWithVerifier();
    const starting = restarted.projection.start();
    // Loaded from the snapshot alone, the revoked key would verify and the new one would not exist.
    expect(restarted.verifier.verify(revoked, {}, Date.now()).code).toBe('UNAVAILABLE');
    expect(restarted.verifier.verify(issuedLater, {}, Date.now()).code).toBe('UNAVAILABLE');
    expect(restarted.projection.readiness().healthy).toBe(false);

    await starting;
    expect(restarted.projection.status().startedFromSnapshot).toBe(true);
    expect(restarted.verifier.verify(revoked, {}, Date.now()).code).toBe('REVOKED');
    expect(restarted.verifier.verify(issuedLater, {}, Date.now()).code).toBe('VALID');
    expect(restarted.projection.readiness().healthy).toBe(true);
  });
});
