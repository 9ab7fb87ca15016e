import type { AuditReport, KeyUsed, UsageBatch } from '@keyledger/contracts';
import { ROOT_TENANT, auditReportRequestSchema, streamIdOf, usageBatchSchema } from '@keyledger/contracts';
import type { EventType } from '@keyledger/contracts';
import type { Caller } from '@keyledger/admin-auth';
import { START_OF_LOG } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import { KeyIndex } from '@keyledger/key-projection';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { UsageLedger } from '@keyledger/usage-ledger';
import { PermissionReport } from './permission-report.js';

const DAY = 86_400_000;
const WALL = Date.now();
/** The report runs 40 days after the events were stored: today's suspension is then 40 days old. */
const REPORT_AT = WALL + 40 * DAY;
const keyAt = (daysBefore: number): string => newPrefixedId('key', new Date(WALL - daysBefore * DAY));

const ACME_ADMIN: Caller = { keyId: 'key_acme_admin', tenant: 'acme', scopes: ['keyledger:keys:read'] };
const ROOT: Caller = { keyId: 'key_root', tenant: ROOT_TENANT, scopes: ['keyledger:*'] };

/**
 * The permission audit on the real pieces: keys and a rotation policy in the Postgres event store,
 * folded into a KeyIndex as the auditor's projection does, usage stored in the usage ledger, each
 * finding expected once with its evidence; and the tenant boundary attacked.
 */
describe('permission report', () => {
  let ctx: TestContext;
  let report: PermissionReport;
  const keys = {
    unused: keyAt(100),
    scopes: keyAt(100),
    noExpiry: keyAt(0),
    overdue: keyAt(1),
    noIp: keyAt(0),
    suspended: keyAt(0),
    admin: keyAt(0),
    revoked: keyAt(0),
    globex: keyAt(100),
    rootAdmin: keyAt(0),
  };
  /** Restricted, expiring, narrow: no finding of its own. */
  const clean = { scopes: ['orders:read'], ipAllowlist: ['10.0.0.0/8'], expiresAt: new Date(WALL + 365 * DAY).toISOString() };

  async function record(stream: string, type: EventType, data: Record<string, unknown>): Promise<void> {
    await ctx.store.append(stream, await ctx.store.streamVersion(stream), [{ type, data, metadata: testMetadata() }]);
  }
  const issue = (keyId: string, tenant: string, overrides: Record<string, unknown> = {}) =>
    record(streamIdOf('key', keyId), 'KeyIssued', testKeyIssuedData(keyId, tenant, { ...clean, ...overrides }));

  const used = (keyId: string, daysBefore: number, scopes: string[], code: KeyUsed['code'] = 'VALID'): KeyUsed => ({
    keyId,
    tenant: 'acme',
    at: WALL - daysBefore * DAY,
    ip: '10.0.0.1',
    scopes,
    code,
    cost: 0,
    transport: 'http',
  });
  const batch = (records: KeyUsed[]): UsageBatch => usageBatchSchema.parse({ schemaVersion: 1, batchId: newPrefixedId('ub'), instance: 'verifier-a', createdAt: WALL, records });
  const ask = (caller: Caller, request: Record<string, unknown> = {}): Promise<AuditReport> => report.report(auditReportRequestSchema.parse(request), caller);
  const found = (answer: AuditReport) => answer.findings.map((finding) => [finding.kind, finding.keyId]);

  beforeAll(async () => {
    ctx = await createTestContext('permreport');
    await issue(keys.unused, 'acme');
    await issue(keys.scopes, 'acme', { scopes: ['orders:*', 'invoices:read'] });
    await issue(keys.noExpiry, 'acme', { expiresAt: undefined });
    await issue(keys.overdue, 'acme', { owner: 'legacy' });
    await record(streamIdOf('tenant', 'acme'), 'RotationPolicySet', { tenant: 'acme', owner: 'legacy', maxAgeMs: 30 * DAY, graceMs: null });
    await issue(keys.noIp, 'acme', { ipAllowlist: [] });
    await issue(keys.suspended, 'acme');
    await record(streamIdOf('key', keys.suspended), 'KeySuspended', { keyId: keys.suspended, reason: 'investigation' });
    await issue(keys.admin, 'acme', { scopes: ['keyledger:*'] });
    await issue(keys.revoked, 'acme', { expiresAt: undefined, ipAllowlist: [] });
    await record(streamIdOf('key', keys.revoked), 'KeyRevoked', { keyId: keys.revoked, reason: 'retired' });
    await issue(keys.globex, 'globex', { expiresAt: undefined, ipAllowlist: [] });
    await issue(keys.rootAdmin, ROOT_TENANT, { scopes: ['keyledger:keys:read'] });

    // Store readers stop below the oldest transaction still open on the server (on a shared one, maybe another test's): until they see every key event.
    const [stored] = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events where stream_id like 'key-%'`);
    const { events } = await eventually('every key event readable', () => ctx.store.readAll(START_OF_LOG, 1000, 'key'), (page) => page.events.length === stored!.n, 60_000);
    const index = new KeyIndex();
    for (const event of events) index.apply(event);
    const ledger = new UsageLedger(ctx.appDb);
    await ledger.ingest([
      batch([
        // Only a refused verification in the window: the key is still unused, and was last presented then.
        used(keys.unused, 2, ['orders:read'], 'FORBIDDEN'),
        used(keys.scopes, 1, ['orders:items:write']),
        used(keys.scopes, 3, ['orders:items:write']),
        // Asked, but refused: invoices:read stays unused.
        used(keys.scopes, 1, ['invoices:read'], 'INSUFFICIENT_PERMISSIONS'),
        // Asked before the window (90 days back from the report): does not count.
        used(keys.scopes, 60, ['invoices:read']),
      ]),
    ]);
    report = new PermissionReport(ledger, index, ctx.store, { retentionDays: 365 }, () => REPORT_AT);
  });

  afterAll(async () => {
    await ctx.close();
  });

  it("finds each problem of the tenant's keys once, in order, and nothing of a revoked key", async () => {
    const answer = await ask(ACME_ADMIN);
    expect(answer).toMatchObject({ tenant: 'acme', unusedDays: 90, staleSuspendedDays: 30, usage: { since: new Date(REPORT_AT - 90 * DAY).toISOString(), complete: true } });
    expect(found(answer)).toEqual([
      ['unused-key', keys.unused],
      ['unused-scopes', keys.scopes],
      ['no-expiry', keys.noExpiry],
      ['rotation-overdue', keys.overdue],
      ['no-ip-restriction', keys.noIp],
      ['stale-suspension', keys.suspended],
      ['broad-admin', keys.admin],
    ]);
  });

  it('gives each finding its evidence: dates, counts, scopes', async () => {
    const byKind = new Map((await ask(ACME_ADMIN)).findings.map((finding) => [finding.kind, finding]));
    expect(byKind.get('unused-key')).toMatchObject({
      tenant: 'acme',
      owner: 'svc',
      evidence: { issuedAt: new Date(WALL - 100 * DAY).toISOString(), validCalls: 0, lastValidUseAt: null },
    });
    expect(byKind.get('unused-key')!.evidence['lastPresentedAt']).toBe(new Date(WALL - 2 * DAY).toISOString());
    expect(byKind.get('unused-scopes')!.evidence).toMatchObject({ unusedScopes: ['invoices:read'], requestedScopes: ['orders:items:write'], validCalls: 2 });
    expect(byKind.get('rotation-overdue')).toMatchObject({ owner: 'legacy', evidence: { maxAgeMs: 30 * DAY, overdueDays: 11, rotatedBySchedule: true } });
    const suspension = byKind.get('stale-suspension')!.evidence;
    // Suspended just after WALL: 40 days less the test's few ms before the report, counted in whole days.
    expect(suspension['suspendedDays']).toBe(39);
    expect(Date.parse(suspension['suspendedAt'] as string)).toBeGreaterThanOrEqual(WALL);
    expect(byKind.get('broad-admin')!.evidence).toEqual({ reasons: ['keyledger:*'], adminScopes: ['keyledger:*'] });
  });

  it('follows the asked thresholds', async () => {
    const answer = await ask(ACME_ADMIN, { tenant: 'acme', unusedDays: 141, staleSuspendedDays: 40 });
    // Issued 140 days before the report is not unused for 141 days; suspended 40 days (less a few ms) is not more than 40.
    expect(found(answer).filter(([kind]) => kind === 'unused-key' || kind === 'unused-scopes' || kind === 'stale-suspension')).toEqual([]);
  });

  it("refuses a tenant's admin another tenant, or every tenant, and shows it nothing of them", async () => {
    await expect(ask(ACME_ADMIN, { tenant: 'globex' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(ask({ ...ACME_ADMIN, scopes: ['keyledger:*'] }, { tenant: 'globex' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    const own = await ask(ACME_ADMIN);
    expect(own.findings.every((finding) => finding.tenant === 'acme')).toBe(true);
    await expect(ask({ keyId: 'key_data', tenant: 'acme', scopes: ['*'] })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('reports every tenant to a root admin', async () => {
    const all = await ask(ROOT);
    expect(all.tenant).toBeNull();
    expect(found(all)).toEqual(
      expect.arrayContaining([
        ['unused-key', keys.globex],
        ['no-expiry', keys.globex],
        ['no-ip-restriction', keys.globex],
        ['broad-admin', keys.rootAdmin],
      ]),
    );
    expect((await ask(ROOT, { tenant: 'globex' })).findings.map((finding) => finding.tenant)).toEqual(['globex', 'globex', 'globex']);
  });
});
