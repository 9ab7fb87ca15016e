import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GlobalPosition } from '@keyledger/contracts';
import { compareGlobalPositions } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import { KeyHasher } from '@keyledger/key-secrets';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { RelayHeartbeatPublisher, createOutboxRelay } from '@keyledger/outbox-relay';
import type { QueryRunner } from 'typeorm';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { KeyIndex } from './key-index.js';
import { KeyVerifier } from './key-verifier.js';
import { LiveKeyProjection } from './live-key-projection.js';
import { startEmbeddedPostgres } from '../../../tools/local-stack/embedded-postgres.mjs';

const MAX_STALENESS_MS = 2000;
/** Heartbeats every 250 ms here, and timers: past this a projection that heard nothing newer must fail closed. */
const STALE_BY_MS = MAX_STALENESS_MS + 1000;

/**
 * Readers of the store stop at the oldest transaction still running, so a revocation committed
 * after it waits, unread, until it ends. A heartbeat that vouched for "now" over that wait would
 * let a verifier answer VALID for the revoked key for as long as the older transaction runs.
 * On a PostgreSQL of the test's own: the older transaction holds back every reader of the
 * server, and other suites on a shared one would wait behind it too.
 */
describe('a revocation held back by an older transaction', () => {
  let postgres: { url: string; stop(): Promise<void> } | undefined;
  let dataDir: string | undefined;
  let ctx: TestContext;
  let relay: OutboxRelay;
  let heartbeat: RelayHeartbeatPublisher;
  let projection: LiveKeyProjection;
  let verifier: KeyVerifier;
  const index = new KeyIndex();
  const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keyledger-held-back-'));
    postgres = await startEmbeddedPostgres({ root: dataDir, dataDir, log: () => undefined });
    ctx = await createTestContext('heldback', { databaseUrl: postgres.url });
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
    heartbeat = new RelayHeartbeatPublisher({ ...ctx, isLeader: () => relay.status().leader, onHead: (head) => relay.noteStoreHead(head) }, 250);
    heartbeat.start();
    projection = new LiveKeyProjection(
      { ...ctx, index },
      {
        instanceId: 'held-back-test',
        maxBusSilenceMs: 60_000,
        failClosed: true,
        heartbeatMs: 60_000,
        catchUpBatchSize: 100,
        announce: false,
        maxStalenessMs: MAX_STALENESS_MS,
      },
    );
    await projection.start();
    verifier = new KeyVerifier(index, hasher, { projection });
  });

  afterAll(async () => {
    heartbeat?.stop();
    await projection?.stop();
    await relay?.stop();
    await ctx?.close();
    await postgres?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  /** A transaction that has taken its id, so readers stop before it, until it ends. */
  const holdHorizon = async (): Promise<QueryRunner> => {
    const holder = ctx.appDb.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    // Any write would do: taking a transaction id is what holds readers back.
    await holder.query('select pg_current_xact_id()');
    return holder;
  };

  const append = async (streamId: string, version: number, type: 'KeyIssued' | 'KeyRevoked', data: Record<string, unknown>): Promise<GlobalPosition> => {
    const { events } = await ctx.store.append(streamId, version, [{ type, data, metadata: testMetadata() }]);
    return events[0]!;
  };

  it('is never answered VALID once the staleness bound has passed, and is answered REVOKED once the older transaction ends', async () => {
    const keyId = newPrefixedId('key');
    const material = hasher.newKey('kl', 'live');
    await append(`key-${keyId}`, 0, 'KeyIssued', {
      ...testKeyIssuedData(keyId),
      digest: material.digest,
      hint: material.hint,
      prefix: 'kl',
      environment: 'live',
    });
    await eventually(
      'VALID while current',
      () => verifier.verify(material.plaintext, {}, Date.now()).code,
      (code) => code === 'VALID',
      15_000,
    );

    const older = await holdHorizon();
    try {
      const revokedAt = await append(`key-${keyId}`, 1, 'KeyRevoked', { keyId, reason: 'compromised' });
      const committedAt = Date.now();
      await sleep(STALE_BY_MS);

      // The revocation is committed but not readable yet: the projection has not applied it...
      expect(compareGlobalPositions(projection.appliedPosition(), revokedAt)).toBeLessThan(0);
      // ...so it must not count itself current, and no answer says VALID.
      const answers = Array.from({ length: 5 }, () => verifier.verify(material.plaintext, {}, Date.now()).code);
      expect(answers).toEqual(Array(5).fill('UNAVAILABLE'));
      expect(heartbeat.heldBackBeats()).toBeGreaterThan(0);
      console.log(`${Date.now() - committedAt} ms after a revocation held back by an older transaction, the projection answers UNAVAILABLE`);
    } finally {
      await older.rollbackTransaction();
      await older.release();
    }
    // REVOKED, not UNAVAILABLE: the revocation was applied and a heartbeat vouched for it again.
    await eventually(
      'REVOKED once the older transaction ends',
      () => verifier.verify(material.plaintext, {}, Date.now()).code,
      (code) => code === 'REVOKED',
      15_000,
    );
  });

  it('stays current while short transactions overlap commits back to back, never all of them ended at a heartbeat', async () => {
    let samples = 0;
    let failedClosed = 0;
    const sampler = setInterval(() => {
      samples += 1;
      if (projection.isFailingClosed()) failedClosed += 1;
    }, 50);
    let holder = await holdHorizon();
    try {
      const until = Date.now() + 3 * MAX_STALENESS_MS;
      while (Date.now() < until) {
        // The next holder starts before the last ends, and an event commits after it: every head
        // read in this loop finds an event held back behind a running transaction about 600 ms old.
        const next = await holdHorizon();
        const keyId = newPrefixedId('key');
        await append(`key-${keyId}`, 0, 'KeyIssued', testKeyIssuedData(keyId));
        await holder.commitTransaction();
        await holder.release();
        holder = next;
        await sleep(300);
      }
    } finally {
      clearInterval(sampler);
      await holder.commitTransaction();
      await holder.release();
    }
    expect(heartbeat.heldBackBeats()).toBe(0);
    expect(samples).toBeGreaterThan(50);
    expect(failedClosed).toBe(0);
  });
});
