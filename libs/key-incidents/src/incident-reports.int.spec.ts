import { randomBytes } from 'node:crypto';
import type { ApiError, KeyLeakReportedData } from '@keyledger/contracts';
import { ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { formatNewKey } from '@keyledger/key-domain';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testMetadata } from '@keyledger/testing';
import type { CommandContext } from '@keyledger/admin-auth';
import { KeyCommands } from '@keyledger/key-commands';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import { IncidentReports, recordAnomaly } from './incident-reports.js';

describe('leak and anomaly reports', () => {
  let ctx: TestContext;
  let keys: KeyCommands;
  let reports: IncidentReports;
  let tenants: TenantSettingsCommands;
  const index = new KeyIndex();
  const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);
  const root: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const as = (tenant: string, scopes: string[]): CommandContext => ({
    caller: { keyId: `key_${tenant}_${scopes.join('_')}`, tenant, scopes },
    correlationId: 'test',
  });
  const issued: string[] = [];
  const issue = async (tenant: string, owner: string, scopes = ['orders:read']) => {
    const key = await keys.issue({ tenant, owner, environment: 'live', scopes, ipAllowlist: [], metadata: {}, rateLimits: [] }, root);
    issued.push(key.keyId);
    return key;
  };
  /**
   * The issuer's projection, kept current as the live one would be, until it knows every key
   * issued so far (the store shows a commit to readers once older transactions of the whole
   * server have ended, so a read right after an issue may not have it yet).
   */
  const sync = async (): Promise<void> => {
    await eventually(
      'the projection knows every key issued',
      async () => {
        for (const event of await ctx.store.readAll(START_OF_LOG, 100_000, 'key').then((page) => page.events)) index.apply(event);
        return issued.every((keyId) => index.get(keyId) !== undefined);
      },
      Boolean,
    );
  };
  const errorOf = (promise: Promise<unknown>): Promise<ApiError> =>
    promise.then(
      () => Promise.reject(new Error('expected a failure')),
      (error: ApiError) => error,
    );

  beforeAll(async () => {
    ctx = await createTestContext('incident-reports');
    keys = new KeyCommands({ store: ctx.store, hasher, index });
    reports = new IncidentReports({ store: ctx.store, hasher, index });
    tenants = new TenantSettingsCommands({ store: ctx.store });
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('finds a key by its plaintext, records the leak by key id and place, and says what will follow', async () => {
    const leaked = await issue('acme', 'billing');
    await sync();
    const source = { file: 'config/app.env', line: 2, column: 9, commit: 'a1b2c3d4', repository: 'acme/app' };
    const result = await reports.reportLeak({ key: leaked.key, source }, as('acme', ['keyledger:leaks:report']));
    expect(result).toEqual({
      outcome: 'REPORTED',
      keyId: leaked.keyId,
      tenant: 'acme',
      owner: 'billing',
      hint: leaked.view.hint,
      incidentId: expect.any(String),
      pendingAction: 'rotate',
      handled: null,
      // The owner registered no public key and no webhook: nobody would receive the new key.
      newKeyDelivery: [],
    });
    const events = await ctx.store.readStream(streamIdOf('key', leaked.keyId));
    expect(events.map((event) => event.type)).toEqual(['KeyIssued', 'KeyLeakReported']);
    expect(events[1]!.eventId).toBe(result.incidentId);
    expect(events[1]!.data).toEqual({
      keyId: leaked.keyId,
      tenant: 'acme',
      source,
      evidence: 'plaintext',
      reportedBy: 'admin-key:key_acme_keyledger:leaks:report',
      at: expect.any(String),
    } satisfies Omit<KeyLeakReportedData, 'at'> & { at: unknown });
    const stored = JSON.stringify(await ctx.ownerDb.query(`select data, metadata from events`));
    expect(stored).not.toContain(leaked.key);
  });

  it('records one report per place: the same place again changes nothing, another place is another report', async () => {
    const leaked = await issue('acme', 'billing');
    await sync();
    const first = await reports.reportLeak({ key: leaked.key, source: { file: 'a.env', line: 1 } }, root);
    const again = await reports.reportLeak({ keyId: leaked.keyId, source: { file: 'a.env', line: 1 } }, root);
    expect(again).toMatchObject({ outcome: 'ALREADY_REPORTED', keyId: leaked.keyId, incidentId: first.incidentId });
    const elsewhere = await reports.reportLeak({ key: leaked.key, source: { url: 'https://paste.example/abc' } }, root);
    expect(elsewhere.outcome).toBe('REPORTED');
    expect(elsewhere.incidentId).not.toBe(first.incidentId);
    expect((await ctx.store.readStream(streamIdOf('key', leaked.keyId))).map((event) => event.type)).toEqual([
      'KeyIssued',
      'KeyLeakReported',
      'KeyLeakReported',
    ]);
    // The same report twice at once: one of them records it.
    const raced = await issue('acme', 'billing');
    await sync();
    const both = await Promise.all([1, 2].map(() => reports.reportLeak({ key: raced.key, source: { file: 'b.env' } }, root)));
    expect(both.map((r) => r.outcome).sort()).toEqual(['ALREADY_REPORTED', 'REPORTED']);
    expect(await ctx.store.streamVersion(streamIdOf('key', raced.keyId))).toBe(2);
  });

  it('answers NOT_FOUND and MALFORMED as values and records nothing, for an unknown key, another tenant’s key or a non-key', async () => {
    const count = async (): Promise<number> => (await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events`))[0]!.n;
    const before = await count();
    const source = { file: 'x.txt' };
    expect(await reports.reportLeak({ key: formatNewKey('kl', 'live', (n) => randomBytes(n)), source }, root)).toEqual({ outcome: 'NOT_FOUND' });
    expect(await reports.reportLeak({ key: 'kl_live_not-a-key', source }, root)).toEqual({ outcome: 'MALFORMED' });
    expect(await reports.reportLeak({ keyId: 'key_01jdaaaaaaaaaaaaaaaaaaaaaa', source }, root)).toEqual({ outcome: 'NOT_FOUND' });
    const globex = await issue('globex', 'svc');
    await sync();
    const acmeReporter = as('acme', ['keyledger:keys:write']);
    expect(await reports.reportLeak({ key: globex.key, source }, acmeReporter)).toEqual({ outcome: 'NOT_FOUND' });
    expect(await reports.reportLeak({ keyId: globex.keyId, source }, acmeReporter)).toEqual({ outcome: 'NOT_FOUND' });
    expect(await count()).toBe(before + 1);
  });

  it('lets a report-only key report plaintexts but not key ids, and refuses keys without either scope', async () => {
    const leaked = await issue('acme', 'billing');
    await sync();
    const reporter = as('acme', ['keyledger:leaks:report']);
    expect((await errorOf(reports.reportLeak({ keyId: leaked.keyId, source: { file: 'a' } }, reporter))).code).toBe('PERMISSION_DENIED');
    for (const scopes of [['keyledger:keys:read'], ['orders:*']])
      expect((await errorOf(reports.reportLeak({ key: leaked.key, source: { file: 'a' } }, as('acme', scopes)))).code).toBe('PERMISSION_DENIED');
    // Refused before any lookup: a caller without the scope learns nothing, even that a string is malformed.
    expect((await errorOf(reports.reportLeak({ key: 'nonsense', source: { file: 'a' } }, as('acme', ['keyledger:keys:read'])))).code).toBe('PERMISSION_DENIED');
    expect((await reports.reportLeak({ keyId: leaked.keyId, source: { file: 'a' } }, as('acme', ['keyledger:keys:write']))).outcome).toBe('REPORTED');
    expect(await ctx.store.streamVersion(streamIdOf('key', leaked.keyId))).toBe(2);
  });

  it('refuses a source that holds a key, and records nothing', async () => {
    const leaked = await issue('acme', 'billing');
    await sync();
    const error = await errorOf(reports.reportLeak({ key: leaked.key, source: { url: `https://x.example/?key=${leaked.key}` } }, root));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).not.toContain(leaked.key);
    expect(await ctx.store.streamVersion(streamIdOf('key', leaked.keyId))).toBe(1);
  });

  it('says which action the tenant’s and owner’s incident policies will take', async () => {
    await tenants.setIncidentPolicy({ tenant: 'initech', onLeak: 'emergency-rotate', onAnomaly: null, graceMs: 60_000 }, root);
    const view = await tenants.setIncidentPolicy({ tenant: 'initech', owner: 'legacy', onLeak: 'notify', onAnomaly: 'suspend', graceMs: null }, root);
    expect(view).toEqual({
      tenant: 'initech',
      owner: 'legacy',
      policy: { onLeak: 'notify', onAnomaly: 'suspend', graceMs: null, onEnumeration: null, denyForMs: null, anomalyRules: null },
      effective: { onLeak: 'notify', onAnomaly: 'suspend', graceMs: 60_000, onEnumeration: 'notify', denyForMs: 3_600_000, anomalyRules: [] },
    });
    expect((await tenants.getIncidentPolicy({ tenant: 'initech' }, as('initech', ['keyledger:keys:read']).caller)).effective).toEqual({
      onLeak: 'emergency-rotate',
      onAnomaly: 'notify',
      graceMs: 60_000,
      onEnumeration: 'notify',
      denyForMs: 3_600_000,
      anomalyRules: [],
    });
    expect(
      (await errorOf(tenants.setIncidentPolicy({ tenant: 'initech', onLeak: null, onAnomaly: null, graceMs: null }, as('initech', ['keyledger:keys:read']))))
        .code,
    ).toBe('PERMISSION_DENIED');
    const [svc, legacy, admin] = [await issue('initech', 'svc'), await issue('initech', 'legacy'), await issue('initech', 'ops', ['keyledger:keys:read'])];
    await sync();
    expect((await reports.reportLeak({ key: svc.key, source: { file: 'a' } }, root)).pendingAction).toBe('emergency-rotate');
    expect((await reports.reportLeak({ key: legacy.key, source: { file: 'a' } }, root)).pendingAction).toBe('notify');
    expect((await reports.reportLeak({ key: admin.key, source: { file: 'a' } }, root)).pendingAction).toBe('notify');
    expect(await reports.reportAnomaly({ keyId: legacy.keyId, kind: 'usage-spike', severity: 'high' }, root)).toMatchObject({
      outcome: 'REPORTED',
      keyId: legacy.keyId,
      pendingAction: 'suspend',
    });
    const ruled = { tenant: 'initech', owner: 'legacy', onLeak: 'notify', onAnomaly: 'suspend', graceMs: null } as const;
    await tenants.setIncidentPolicy({ ...ruled, anomalyRules: [{ minSeverity: 'critical', action: 'rotate' }] }, root);
    expect((await reports.reportAnomaly({ keyId: legacy.keyId, kind: 'usage-spike', severity: 'critical' }, root)).pendingAction).toBe('rotate');
    expect((await reports.reportAnomaly({ keyId: legacy.keyId, kind: 'usage-spike', severity: 'high' }, root)).pendingAction).toBe('suspend');
  });

  it('records an anomaly once for a detector that retries with the same event id, and refuses an unknown key', async () => {
    const key = await issue('acme', 'billing');
    const anomaly = { keyId: key.keyId, tenant: 'acme', kind: 'new-source' as const, severity: 'medium' as const, detectedAt: new Date().toISOString() };
    const eventId = '0190f4c6-0000-7000-8000-00000000a001';
    const metadata = testMetadata({ actor: 'system:anomaly-detector' });
    expect(await recordAnomaly(ctx.store, anomaly, metadata, { eventId })).toEqual({ incidentId: eventId });
    expect(await recordAnomaly(ctx.store, anomaly, metadata, { eventId })).toEqual({ incidentId: eventId });
    expect((await ctx.store.readStream(streamIdOf('key', key.keyId))).map((event) => event.type)).toEqual(['KeyIssued', 'AnomalyDetected']);
    const unknown = { ...anomaly, keyId: 'key_01jdaaaaaaaaaaaaaaaaaaaaaa' };
    expect((await errorOf(recordAnomaly(ctx.store, unknown, metadata))).code).toBe('KEY_NOT_FOUND');
    expect((await errorOf(reports.reportAnomaly({ keyId: unknown.keyId, kind: 'other', severity: 'low' }, root))).code).toBe('KEY_NOT_FOUND');
    await expect(recordAnomaly(ctx.store, { ...anomaly, severity: 'extreme' as 'high' }, metadata)).rejects.toThrow();
  });

  it('refuses an anomaly whose detail holds a key, over the API and from the detector, and records nothing', async () => {
    const key = await issue('acme', 'billing');
    const detail = `calls with ${key.key} from 3 new countries`;
    const refused = await errorOf(reports.reportAnomaly({ keyId: key.keyId, kind: 'new-source', severity: 'high', detail }, root));
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).not.toContain(key.key);
    const anomaly = { keyId: key.keyId, tenant: 'acme', kind: 'new-source' as const, severity: 'high' as const, detail, detectedAt: new Date().toISOString() };
    expect((await errorOf(recordAnomaly(ctx.store, anomaly, testMetadata({ actor: 'system:anomaly-detector' })))).code).toBe('INVALID_ARGUMENT');
    expect(await ctx.store.streamVersion(streamIdOf('key', key.keyId))).toBe(1);
  });
});
