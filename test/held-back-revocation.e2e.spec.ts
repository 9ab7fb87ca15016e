import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueryRunner } from 'typeorm';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, spawnService, startServices } from '@keyledger/testing';
import { startEmbeddedPostgres } from '../tools/local-stack/embedded-postgres.mjs';

/**
 * A heartbeat vouches, while transactions overlap, for the newest read taken before the oldest
 * one running began: up to that transaction's age plus two heartbeat intervals old. 4 s leaves
 * room for that on a loaded machine.
 */
const MAX_STALENESS_MS = 4000;
/** Heartbeats every second, and timers: past this a verifier that heard nothing newer must fail closed. */
const STALE_BY_MS = MAX_STALENESS_MS + 1500;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Readers of the store stop at the oldest write transaction still running, so a revocation
 * committed after it waits, unread, until it ends. A relay heartbeat that vouched for "now" over
 * that wait let verifiers answer VALID for the revoked key for as long as the older transaction
 * ran. Against running services, on a PostgreSQL of the test's own: the older transaction holds
 * back every reader of its server, and other suites on a shared one would wait behind it too.
 */
describe('a revocation held back by an older transaction, against running services', () => {
  let postgres: { url: string; stop(): Promise<void> } | undefined;
  let dataDir: string | undefined;
  let ctx: TestContext;
  let relay: ChildProcess;
  let services: RunningServices;
  let api: NatsKeyApi;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keyledger-held-back-'));
    postgres = await startEmbeddedPostgres({ root: dataDir, dataDir, log: () => undefined });
    ctx = await createTestContext('heldback_e2e', { databaseUrl: postgres.url });
    relay = spawnService(ctx, 'relay');
    services = await startServices(ctx, ['issuer', 'verifier'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      VERIFIER_MAX_STALENESS_MS: String(MAX_STALENESS_MS),
      REVOCATION_FENCE_TIMEOUT_MS: '1000',
    });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    relay?.kill('SIGTERM');
    await ctx?.close();
    await postgres?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** A transaction that has taken its id, so readers stop before it, until it ends. */
  const holdHorizon = async (): Promise<QueryRunner> => {
    const holder = ctx.ownerDb.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    // Any write would do: taking a transaction id is what holds readers back.
    await holder.query('select pg_current_xact_id()');
    return holder;
  };

  const issue = (): Promise<{ keyId: string; key: string }> => api.ok('keys.issue', { tenant: 'acme', owner: 'billing', scopes: ['orders:read'] });

  it('never answers VALID for the revoked key once the staleness bound has passed, and REVOKED once the older transaction ends', async () => {
    const { keyId, key } = await issue();
    await eventually(
      'VALID while current',
      () => api.verify({ key }),
      (result) => result.code === 'VALID',
    );

    const older = await holdHorizon();
    try {
      // Committed, but behind the older transaction: the fence cannot see it applied, so the
      // command may answer VERIFIERS_UNCONFIRMED; either way the revocation is recorded.
      const revoked = await api.call('keys.revoke', { keyId, reason: 'compromised' });
      expect(revoked.ok || revoked.error?.code === 'VERIFIERS_UNCONFIRMED').toBe(true);
      await sleep(STALE_BY_MS);
      const answers: string[] = [];
      for (let sample = 0; sample < 5; sample += 1) answers.push((await api.verify({ key })).code);
      expect(answers).toEqual(Array(5).fill('UNAVAILABLE'));
    } finally {
      await older.rollbackTransaction();
      await older.release();
    }
    // REVOKED, not UNAVAILABLE: the revocation was applied and a heartbeat vouched for it again.
    await eventually(
      'REVOKED once the older transaction ends',
      () => api.verify({ key }),
      (result) => result.code === 'REVOKED',
      15_000,
    );
  });

  it('stays current while short transactions overlap commits back to back', async () => {
    const { key } = await issue();
    await eventually(
      'VALID while current',
      () => api.verify({ key }),
      (result) => result.code === 'VALID',
    );
    const codes = new Map<string, number>();
    let holder = await holdHorizon();
    try {
      // Twice the bound: with no heartbeat vouching for anything newer, it would fail closed halfway.
      const until = Date.now() + 2 * MAX_STALENESS_MS;
      while (Date.now() < until) {
        // The next holder starts before the last ends, and an event commits after it: every head
        // read in this loop finds an event held back behind a running transaction.
        const next = await holdHorizon();
        await issue();
        await holder.commitTransaction();
        await holder.release();
        holder = next;
        const { code } = await api.verify({ key });
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    } finally {
      await holder.commitTransaction();
      await holder.release();
    }
    expect([...codes.keys()]).toEqual(['VALID']);
    expect(codes.get('VALID')).toBeGreaterThan(20);
  });
});
