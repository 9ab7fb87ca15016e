import type { AuditCheck, AuditKeyAt, AuditSearchPage, AuditTrail, KeyView } from '@keyledger/contracts';
import type { AdminStack, NatsKeyApi, TestContext } from '@keyledger/testing';
import { eventually, runCli, startAdminStack } from '@keyledger/testing';

interface Issued {
  readonly keyId: string;
  readonly key: string;
  readonly view: KeyView;
}

/**
 * A key's history end to end on the built services: a key issued, updated, suspended, resumed,
 * rotated and revoked by two admins; `keyledger audit trail` lists those events in order with
 * their actors, `audit at` shows the key as it was, and `audit check` says VALID just before the
 * revocation and REVOKED from its instant on, naming the revoking event. An admin of another
 * tenant learns nothing.
 */
describe('audit trail', () => {
  let stack: AdminStack;
  let ctx: TestContext;
  let api: NatsKeyApi;
  let rootKey: string;

  beforeAll(async () => {
    stack = await startAdminStack('audittrail');
    ({ ctx, api, rootKey } = stack);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('lists the trail in order with actors, and checks the key before and after its revocation', async () => {
    const acmeAdmin = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'ops', scopes: ['keyledger:keys:*'] });
    const globexAdmin = await api.ok<Issued>('keys.issue', { tenant: 'globex', owner: 'ops', scopes: ['keyledger:keys:read'] });
    const rootId = (
      await eventually(
        'the root key verifies',
        () => api.verify({ key: rootKey }),
        (result) => result.code === 'VALID',
      )
    ).keyId!;
    // Events name an admin as its key id.
    const root = `admin-key:${rootId}`;
    const acme = `admin-key:${acmeAdmin.keyId}`;
    await eventually(
      'the acme admin key is accepted',
      () => api.call('keys.list', { tenant: 'acme' }, acmeAdmin.key),
      (reply) => reply.ok,
      30_000,
    );

    const key = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'billing', scopes: ['orders:read'] });
    await api.ok('keys.update', { keyId: key.keyId, scopes: ['orders:read', 'orders:write'] }, acmeAdmin.key);
    await api.ok('keys.suspend', { keyId: key.keyId, reason: 'investigating' }, acmeAdmin.key);
    await api.ok('keys.resume', { keyId: key.keyId });
    await api.ok('keys.rotate', { keyId: key.keyId }, acmeAdmin.key);
    await api.ok('keys.revoke', { keyId: key.keyId, reason: 'retired' }, acmeAdmin.key);

    const run = await runCli(ctx, ['audit', 'trail', key.keyId, '--json'], { adminKey: acmeAdmin.key });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const trail = JSON.parse(run.stdout) as AuditTrail;
    expect(trail.events.map((event) => [event.type, event.actor])).toEqual([
      ['KeyIssued', root],
      ['KeyUpdated', acme],
      ['KeySuspended', acme],
      ['KeyResumed', root],
      ['KeyRotated', acme],
      ['KeyRevoked', acme],
    ]);
    expect(trail.events.map((event) => event.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const readable = await runCli(ctx, ['audit', 'trail', key.keyId], { adminKey: acmeAdmin.key });
    expect(readable.stdout).toContain('KeySuspended');
    expect(readable.stdout).toContain(acmeAdmin.keyId);

    const revoked = trail.events[5]!;
    const justBefore = new Date(Date.parse(revoked.occurredAt) - 1).toISOString();
    const check = async (at: string) => {
      const result = await runCli(ctx, ['audit', 'check', '--at', at, '--key', key.keyId, '--scope', 'orders:write', '--json'], { adminKey: acmeAdmin.key });
      return { code: result.code, check: JSON.parse(result.stdout) as AuditCheck };
    };
    expect(await check(justBefore)).toMatchObject({ code: 0, check: { valid: true, code: 'VALID' } });
    expect(await check(revoked.occurredAt)).toMatchObject({
      code: 1,
      check: { valid: false, code: 'REVOKED', decidedBy: { eventId: revoked.eventId, type: 'KeyRevoked', actor: acme } },
    });
    const text = await runCli(ctx, ['audit', 'check', '--at', revoked.occurredAt, '--key', key.keyId], { adminKey: acmeAdmin.key });
    expect(text.stdout).toContain(`revoked at ${revoked.occurredAt} by event ${revoked.eventId}`);
    // Live, the verifier agrees with the present.
    expect(
      await eventually(
        'the verifier sees the revocation',
        () => api.verify({ key: key.key }),
        (result) => result.code === 'REVOKED',
      ),
    ).toMatchObject({ code: 'REVOKED' });

    // The key as it was while suspended: the update's scopes, status suspended.
    const suspendedAt = trail.events[2]!.occurredAt;
    const at = await runCli(ctx, ['audit', 'at', suspendedAt, key.keyId, '--json'], { adminKey: acmeAdmin.key });
    expect(JSON.parse(at.stdout) as AuditKeyAt).toMatchObject({ key: { status: 'suspended', scopes: ['orders:read', 'orders:write'], version: 3 } });

    // Another tenant's admin learns nothing, not even that the key exists.
    for (const [operation, body] of [
      ['audit.trail', { keyId: key.keyId }],
      ['audit.at', { keyId: key.keyId, at: suspendedAt }],
      ['audit.check', { keyId: key.keyId, at: suspendedAt }],
    ] as const)
      expect([operation, (await api.call(operation, body, globexAdmin.key)).error?.code]).toEqual([operation, 'KEY_NOT_FOUND']);
    expect((await api.call('audit.trail', { keyId: key.keyId }, null)).error?.code).toBe('UNAUTHENTICATED');
    expect((await api.call('audit.check', { keyId: key.keyId, at: 'yesterday' })).error?.code).toBe('INVALID_ARGUMENT');

    // The search across keys: what the acme admin did to billing's keys, a page of two at a time.
    const search = (args: string[], adminKey = acmeAdmin.key) => runCli(ctx, ['audit', 'search', ...args], { adminKey });
    // The trail is a projection: an event whose apply failed comes back after the events behind
    // it, so wait for all four rather than for the last.
    const billingKeyEvents = (page: AuditSearchPage) => page.events.filter((event) => event.streamId === `key-${key.keyId}`).map((event) => event.type);
    const found = await eventually(
      'the trail holds the four events of the acme admin',
      async () => JSON.parse((await search(['--owner', 'billing', '--actor', acme, '--limit', '2', '--all', '--json'])).stdout) as AuditSearchPage,
      (page) => billingKeyEvents(page).length >= 4,
      30_000,
    );
    expect(billingKeyEvents(found)).toEqual(['KeyUpdated', 'KeySuspended', 'KeyRotated', 'KeyRevoked']);
    expect(found.events.every((event) => event.tenant === 'acme' && event.actor === acme)).toBe(true);
    const page = await search(['--type', 'KeyRevoked', '--limit', '1']);
    expect(page.stdout).toContain('KeyRevoked');
    expect(page.stdout).toMatch(/more follow: --cursor \d+:\d+|1 event\(s\)/);
    // The globex admin sees none of acme's events, and may not ask for them.
    const globexView = JSON.parse((await search(['--json'], globexAdmin.key)).stdout) as AuditSearchPage;
    expect(globexView.events.filter((event) => event.tenant !== 'globex')).toEqual([]);
    expect(await search(['--tenant', 'acme'], globexAdmin.key)).toMatchObject({ code: 4, stdout: '' });
    expect((await search(['--type', 'KeyExploded'])).stderr).toContain('not an event type Keyledger records');
  });

  it('grows the transparency tree within seconds of new events, and runs no locking pass over it while nothing happens', async () => {
    const { ctx } = stack;
    const treeSize = async () => Number((await ctx.ownerDb.query<{ size: string }[]>(`select size::text from tlog_head`))[0]!.size);
    const storeSize = async () => Number((await ctx.ownerDb.query<{ n: string }[]>(`select count(*) as n from events`))[0]!.n);
    await api.ok('keys.issue', { tenant: 'initech', owner: 'tree', scopes: ['orders:read'] });
    // The checkpoint signer (every 60 s) grows it too; within a few tree intervals only the tree growth can.
    await eventually(
      'the tree covers every event',
      async () => [await treeSize(), await storeSize()],
      ([tree, store]) => tree === store,
      10_000,
    );

    // A pass locks the head row (FOR UPDATE), which gives it a new xmax: while the store is quiet, at
    // most the checkpoint signer's pass may land in these 5 s (one a second did, before the gate).
    const lockers = new Set<string>();
    for (let sample = 0; sample < 21; sample += 1) {
      lockers.add((await ctx.ownerDb.query<{ locker: string }[]>(`select xmax::text as locker from tlog_head`))[0]!.locker);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(lockers.size).toBeLessThanOrEqual(3);
  });
});
