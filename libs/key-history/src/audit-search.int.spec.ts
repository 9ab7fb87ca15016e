import { setTimeout as sleep } from 'node:timers/promises';
import type { Caller } from '@keyledger/admin-auth';
import { AuditTrailProjection } from '@keyledger/audit-trail';
import { rebuildProjection } from '@keyledger/consumer-runtime';
import type { AuditSearchEntry, AuditSearchRequest, EventType } from '@keyledger/contracts';
import { ApiError, ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { AuditSearch } from './audit-search.js';

const ROOT: Caller = { keyId: 'key_root', tenant: ROOT_TENANT, scopes: ['keyledger:*'] };
const ACME_ADMIN: Caller = { keyId: 'key_acme', tenant: 'acme', scopes: ['keyledger:keys:read'] };

const keyId = (n: number): string => `key_${String(n).padStart(26, '0')}`;

/**
 * The trail search on real Postgres: the audit trail filled from the store by the auditor's own
 * projection, searched by tenant, owner, actor, type and time a page at a time; and attacked
 * through the database, as an owner of the schema would, by editing the trail to move or invent events.
 */
describe('audit search', () => {
  let ctx: TestContext;
  let search: AuditSearch;
  let all: readonly AuditSearchEntry[];

  async function record(key: string, type: EventType, data: Record<string, unknown>, actor: string): Promise<void> {
    const stream = streamIdOf('key', key);
    await ctx.store.append(stream, await ctx.store.streamVersion(stream), [{ type, data, metadata: testMetadata({ actor }) }]);
    await sleep(5);
  }

  const types = (entries: readonly AuditSearchEntry[]): string[] => entries.map((entry) => `${entry.type} ${entry.streamId.slice(-2)}`);
  const refusal = (request: AuditSearchRequest, caller: Caller = ROOT): Promise<string> =>
    search.search(request, caller).then(
      () => 'answered',
      (error: unknown) => (error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)),
    );

  beforeAll(async () => {
    ctx = await createTestContext('auditsearch');
    search = new AuditSearch(ctx.appDb, ctx.store);
    await record(keyId(1), 'KeyIssued', testKeyIssuedData(keyId(1), 'acme', { owner: 'billing' }), 'admin-key:key_alice');
    await record(keyId(2), 'KeyIssued', testKeyIssuedData(keyId(2), 'globex', { owner: 'billing' }), 'admin-key:key_root');
    await record(keyId(1), 'KeySuspended', { keyId: keyId(1), reason: 'audit' }, 'admin-key:key_bob');
    await record(keyId(3), 'KeyIssued', testKeyIssuedData(keyId(3), 'acme', { owner: 'payments' }), 'admin-key:key_alice');
    await record(keyId(1), 'KeyRevoked', { keyId: keyId(1), reason: 'retired' }, 'admin-key:key_alice');
    await record(keyId(2), 'KeyRevoked', { keyId: keyId(2), reason: 'retired' }, 'admin-key:key_root');
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
    ({ events: all } = await search.search({}, ROOT));
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('finds every event of every tenant for root, in store order, with the tenant and owner of its stream', () => {
    expect(types(all)).toEqual(['KeyIssued 01', 'KeyIssued 02', 'KeySuspended 01', 'KeyIssued 03', 'KeyRevoked 01', 'KeyRevoked 02']);
    // KeySuspended names neither: they come from the stream's KeyIssued.
    expect(all[2]).toMatchObject({ tenant: 'acme', owner: 'billing', actor: 'admin-key:key_bob', streamId: streamIdOf('key', keyId(1)) });
  });

  it('filters by tenant, owner, actor, type and time', async () => {
    expect(types((await search.search({ tenant: 'acme', owner: 'billing' }, ROOT)).events)).toEqual(['KeyIssued 01', 'KeySuspended 01', 'KeyRevoked 01']);
    expect(types((await search.search({ actor: 'admin-key:key_alice' }, ROOT)).events)).toEqual(['KeyIssued 01', 'KeyIssued 03', 'KeyRevoked 01']);
    expect(types((await search.search({ type: ['KeyRevoked', 'KeySuspended'] }, ROOT)).events)).toEqual(['KeySuspended 01', 'KeyRevoked 01', 'KeyRevoked 02']);
    const fourth = all[3]!;
    expect(types((await search.search({ since: fourth.occurredAt }, ROOT)).events)).toEqual(['KeyIssued 03', 'KeyRevoked 01', 'KeyRevoked 02']);
    expect(types((await search.search({ until: fourth.occurredAt }, ROOT)).events)).toEqual(['KeyIssued 01', 'KeyIssued 02', 'KeySuspended 01']);
  });

  it('pages with a cursor, each event once', async () => {
    const first = await search.search({ limit: 4 }, ROOT);
    expect(first.nextCursor).toBeDefined();
    const second = await search.search({ limit: 4, cursor: first.nextCursor }, ROOT);
    expect(second.nextCursor).toBeUndefined();
    expect([...first.events, ...second.events].map((entry) => entry.eventId)).toEqual(all.map((entry) => entry.eventId));
  });

  it("keeps a tenant's admin to its tenant", async () => {
    expect(types((await search.search({}, ACME_ADMIN)).events)).toEqual(['KeyIssued 01', 'KeySuspended 01', 'KeyIssued 03', 'KeyRevoked 01']);
    expect(await refusal({ tenant: 'globex' }, ACME_ADMIN)).toBe('PERMISSION_DENIED: the admin key may not act on tenant globex');
    expect(await refusal({ tenant: 'acme' }, { ...ACME_ADMIN, scopes: ['keyledger:usage:read'] })).toMatch(/^PERMISSION_DENIED: the admin key lacks the scope/);
  });

  it('refuses a trail row edited to move another tenant’s event into a search, naming its position', async () => {
    const globexRevoked = all[5]!;
    await ctx.ownerDb.query(`update audit_trail set tenant = 'acme' where event_id = $1`, [globexRevoked.eventId]);
    try {
      expect(await refusal({}, ACME_ADMIN)).toBe(
        `INTERNAL: the audit trail disagrees with the event store at position ${globexRevoked.position} (its tenant differs from the trail row); run keyledger audit verify`,
      );
    } finally {
      await ctx.ownerDb.query(`update audit_trail set tenant = 'globex' where event_id = $1`, [globexRevoked.eventId]);
    }
  });

  it('refuses a trail row that names an event the store does not hold, or an actor it did not record', async () => {
    const suspended = all[2]!;
    await ctx.ownerDb.query(`update audit_trail set actor = 'admin-key:key_mallory' where event_id = $1`, [suspended.eventId]);
    expect(await refusal({ actor: 'admin-key:key_mallory' })).toMatch(new RegExp(`^INTERNAL: the audit trail disagrees with the event store at position ${suspended.position} \\(its actor differs`));
    await ctx.ownerDb.query(`update audit_trail set actor = 'admin-key:key_bob' where event_id = $1`, [suspended.eventId]);

    await ctx.ownerDb.query(
      `insert into audit_trail (event_id, transaction_id, position, stream_id, stream_version, type, tenant, owner, actor, correlation_id, causation_id, occurred_at)
       select gen_random_uuid(), transaction_id, position, stream_id, 9, 'KeyResumed', tenant, owner, actor, correlation_id, causation_id, occurred_at
         from audit_trail where event_id = $1`,
      [suspended.eventId],
    );
    expect(await refusal({ type: ['KeyResumed'] })).toBe(
      `INTERNAL: the audit trail disagrees with the event store at position ${suspended.position} (the trail names an event the store does not hold); run keyledger audit verify`,
    );
    await ctx.ownerDb.query(`delete from audit_trail where type = 'KeyResumed'`);
  });

  it('refuses an answer built on an event a superuser edited with triggers disabled', async () => {
    const issued = all[3]!;
    const edit = (owner: string) =>
      ctx.ownerDb.transaction(async (manager) => {
        await manager.query(`set local session_replication_role = replica`);
        await manager.query(`update events set data = jsonb_set(data, '{owner}', $2::jsonb) where event_id = $1`, [issued.eventId, JSON.stringify(owner)]);
      });
    await edit('mallory');
    try {
      // The transports answer it as INTERNAL, "the stored history … fails its integrity check".
      expect(await refusal({ tenant: 'acme' })).toBe(
        `EventIntegrityError: stream ${issued.streamId} holds an event that fails its integrity check at version 1 (position ${issued.position}): bad-mac: the MAC does not match the row`,
      );
    } finally {
      await edit('payments');
    }
  });
});
