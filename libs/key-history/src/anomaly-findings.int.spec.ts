import { setTimeout as sleep } from 'node:timers/promises';
import type { Caller } from '@keyledger/admin-auth';
import { AuditTrailProjection } from '@keyledger/audit-trail';
import { rebuildProjection } from '@keyledger/consumer-runtime';
import type { AnomalyFindingsPage, EventType } from '@keyledger/contracts';
import { ApiError, ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { AnomalyAcknowledgements } from '@keyledger/key-incidents';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { AnomalyFindings } from './anomaly-findings.js';

const ROOT: Caller = { keyId: 'key_root', tenant: ROOT_TENANT, scopes: ['keyledger:*'] };
const ACME_ADMIN: Caller = { keyId: 'key_acme', tenant: 'acme', scopes: ['keyledger:keys:read', 'keyledger:keys:write'] };
const ACME_READER: Caller = { keyId: 'key_reader', tenant: 'acme', scopes: ['keyledger:keys:read'] };
const GLOBEX_ADMIN: Caller = { keyId: 'key_globex', tenant: 'globex', scopes: ['keyledger:keys:read', 'keyledger:keys:write'] };
const DETECTOR = 'system:anomaly-detector';

const keyId = (n: number): string => `key_${String(n).padStart(26, '0')}`;
const commandOf = (caller: Caller): CommandContext => ({ caller, correlationId: 'corr-ack', causationId: 'cmd-ack' });

/**
 * Anomaly findings on real Postgres: AnomalyDetected recorded on key streams, the audit trail
 * filled by the auditor's own projection, listed and explained per tenant and acknowledged once
 * through the store; and attacked through the database by editing the trail, as an owner of the
 * schema would, to move another tenant's finding into a list.
 */
describe('anomaly findings', () => {
  let ctx: TestContext;
  let findings: AnomalyFindings;
  let acknowledgements: AnomalyAcknowledgements;
  const ids: Record<string, string> = {};

  async function record(key: string, type: EventType, data: Record<string, unknown>, actor: string): Promise<string> {
    const stream = streamIdOf('key', key);
    const { events } = await ctx.store.append(stream, await ctx.store.streamVersion(stream), [{ type, data, metadata: testMetadata({ actor }) }]);
    await sleep(5);
    return events[0]!.eventId;
  }
  const anomaly = (key: string, tenant: string, kind: string, severity: string, detail: string) =>
    record(key, 'AnomalyDetected', { keyId: key, tenant, kind, severity, detail, detectedAt: new Date().toISOString() }, DETECTOR);
  const refusal = (run: () => Promise<unknown>): Promise<string> =>
    run().then(
      () => 'answered',
      (error: unknown) => (error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)),
    );
  const listed = (page: AnomalyFindingsPage): string[] => page.findings.map((finding) => finding.id);

  beforeAll(async () => {
    ctx = await createTestContext('anomalyfindings');
    findings = new AnomalyFindings(ctx.appDb, ctx.store);
    acknowledgements = new AnomalyAcknowledgements({ store: ctx.store });
    await record(keyId(1), 'KeyIssued', testKeyIssuedData(keyId(1), 'acme', { owner: 'billing' }), 'admin-key:key_root');
    await record(keyId(2), 'KeyIssued', testKeyIssuedData(keyId(2), 'globex', { owner: 'billing' }), 'admin-key:key_root');
    ids['spike'] = await anomaly(keyId(1), 'acme', 'usage-spike', 'high', 'rate-spike: 900 calls in 10 s against 20 usual');
    ids['globex'] = await anomaly(keyId(2), 'globex', 'dead-key-use', 'medium', 'dead-key-use: a revoked key was presented');
    ids['probe'] = await anomaly(keyId(1), 'acme', 'error-rate', 'medium', 'probing: 40 denied calls in 1 min');
    await record(
      keyId(1),
      'KeyIncidentHandled',
      {
        keyId: keyId(1),
        tenant: 'acme',
        incident: { type: 'AnomalyDetected', eventId: ids['spike'] },
        policy: 'suspend',
        action: 'suspend',
        at: new Date().toISOString(),
      },
      'system:rotator',
    );
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
  });

  afterAll(async () => {
    await ctx.close();
  });

  it("lists a tenant's findings newest first to its admin, every tenant's to root, with what the policy did", async () => {
    const acme = await findings.list({}, ACME_READER);
    expect(listed(acme)).toEqual([ids['probe'], ids['spike']]);
    expect(acme.findings[1]).toMatchObject({
      kind: 'usage-spike',
      handled: { policy: 'suspend', action: 'suspend' },
      acknowledged: null,
      recordedBy: DETECTOR,
    });
    expect(acme.findings[0]).toMatchObject({ kind: 'error-rate', handled: null });
    expect(listed(await findings.list({}, ROOT))).toEqual([ids['probe'], ids['globex'], ids['spike']]);
    expect(listed(await findings.list({ tenant: 'globex' }, ROOT))).toEqual([ids['globex']]);
    expect(listed(await findings.list({ kind: 'usage-spike' }, ROOT))).toEqual([ids['spike']]);
    expect(listed(await findings.list({ severity: 'medium', keyId: keyId(1) }, ROOT))).toEqual([ids['probe']]);
    expect(listed(await findings.list({ since: new Date(Date.now() + 60_000).toISOString() }, ROOT))).toEqual([]);
    expect(await findings.list({ limit: 1 }, ROOT)).toMatchObject({ findings: [{ id: ids['probe'] }], truncated: true });
  });

  it("keeps an admin to its tenant: another tenant's findings are refused or not found", async () => {
    expect(listed(await findings.list({}, GLOBEX_ADMIN))).toEqual([ids['globex']]);
    expect(await refusal(() => findings.list({ tenant: 'acme' }, GLOBEX_ADMIN))).toBe('PERMISSION_DENIED: the admin key may not act on tenant acme');
    expect(await refusal(() => findings.explain({ id: ids['spike']! }, GLOBEX_ADMIN))).toBe(`FINDING_NOT_FOUND: no anomaly finding ${ids['spike']}`);
    expect(await refusal(() => acknowledgements.acknowledge({ id: ids['spike']! }, commandOf(GLOBEX_ADMIN)))).toBe(
      `FINDING_NOT_FOUND: no anomaly finding ${ids['spike']}`,
    );
    expect(await refusal(() => findings.list({}, { ...ACME_ADMIN, scopes: ['keyledger:usage:read'] }))).toMatch(
      /^PERMISSION_DENIED: the admin key lacks the scope/,
    );
  });

  it('explains a finding from its key stream: the detector and its default thresholds, the policy, the key now', async () => {
    const explanation = await findings.explain({ id: ids['spike']! }, ACME_READER);
    expect(explanation).toMatchObject({
      finding: { id: ids['spike'], handled: { action: 'suspend' } },
      detector: { name: 'rate-spike', defaultThresholds: expect.stringMatching(/^window 5 s; above mean \+ 6 standard deviations/) },
      key: { status: 'active', owner: 'billing', honeytoken: false },
    });
    // An event that is not a finding is no finding, whoever asks.
    const [issued] = await ctx.store.readStream(streamIdOf('key', keyId(1)));
    expect(await refusal(() => findings.explain({ id: issued!.eventId }, ROOT))).toBe(`FINDING_NOT_FOUND: no anomaly finding ${issued!.eventId}`);
  });

  it('records one acknowledgement per finding, with write permission, and lists it', async () => {
    expect(await refusal(() => acknowledgements.acknowledge({ id: ids['probe']! }, commandOf(ACME_READER)))).toMatch(
      /^PERMISSION_DENIED: the admin key lacks the scope keyledger:keys:write/,
    );
    const [first, second] = await Promise.all([
      acknowledgements.acknowledge({ id: ids['probe']!, note: 'a pen test' }, commandOf(ACME_ADMIN)),
      acknowledgements.acknowledge({ id: ids['probe']!, note: 'the same pen test' }, commandOf(ACME_ADMIN)),
    ]);
    expect([first.outcome, second.outcome].sort()).toEqual(['ACKNOWLEDGED', 'ALREADY_ACKNOWLEDGED']);
    expect(second.acknowledged).toEqual(first.acknowledged);
    const stream = await ctx.store.readStream(streamIdOf('key', keyId(1)));
    expect(stream.filter((event) => event.type === 'AnomalyAcknowledged').map((event) => event.data)).toEqual([
      expect.objectContaining({ findingId: ids['probe'], tenant: 'acme', acknowledgedBy: 'admin-key:key_acme', note: first.acknowledged.note }),
    ]);
    expect(listed(await findings.list({ unacked: true }, ACME_ADMIN))).toEqual([ids['spike']]);
    expect(await findings.explain({ id: ids['probe']! }, ACME_ADMIN)).toMatchObject({ finding: { acknowledged: { by: 'admin-key:key_acme' } } });
  });

  it("lists and explains a source network's findings in the tenant its calls asked for, with the denial that followed, and calls naming none to root alone", async () => {
    const onNetwork = async (network: string, type: EventType, data: Record<string, unknown>, eventId?: string): Promise<string> => {
      const stream = streamIdOf('network', network.replace('/', '_'));
      const { events } = await ctx.store.append(stream, await ctx.store.streamVersion(stream), [
        { ...(eventId ? { eventId } : {}), type, data, metadata: testMetadata({ actor: DETECTOR }) },
      ]);
      await sleep(5);
      return events[0]!.eventId;
    };
    const found = (network: string, tenant: string, severity: string) =>
      onNetwork(network, 'SourceAnomalyDetected', {
        network,
        tenant,
        detector: 'enumeration',
        severity,
        detail: `40 unknown or malformed keys from ${network} in 60 s`,
        detectedAt: new Date().toISOString(),
      });
    const burst = await found('203.0.113.0/24', 'acme', 'high');
    const until = new Date(Date.now() + 3_600_000).toISOString();
    await onNetwork('203.0.113.0/24', 'SourceNetworkDenied', {
      network: '203.0.113.0/24',
      tenant: 'acme',
      until,
      reason: 'enumeration',
      findingId: burst,
      deniedBy: DETECTOR,
      at: new Date().toISOString(),
    });
    const nameless = await found('198.18.0.0/24', '*', 'high');
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());

    const acme = await findings.list({}, ACME_READER);
    expect(acme.sources).toEqual([
      expect.objectContaining({
        id: burst,
        network: '203.0.113.0/24',
        tenant: 'acme',
        detector: 'enumeration',
        severity: 'high',
        denied: expect.objectContaining({ until }),
      }),
    ]);
    expect(listed(acme)).toEqual([ids['probe'], ids['spike']]);
    expect((await findings.list({}, GLOBEX_ADMIN)).sources).toEqual([]);
    expect((await findings.list({}, ROOT)).sources?.map((source) => source.id)).toEqual([nameless, burst]);
    // The detector filter takes a source's detector as a key's: enumeration lists sources alone, probing keys alone.
    expect(await findings.list({ detector: 'enumeration' }, ACME_READER)).toMatchObject({ findings: [], sources: [{ id: burst }] });
    expect(await findings.list({ detector: 'probing' }, ACME_READER)).toMatchObject({ findings: [{ id: ids['probe'] }], sources: [] });
    expect((await findings.list({ keyId: keyId(1) }, ACME_READER)).sources).toEqual([]);
    expect((await findings.list({ kind: 'error-rate' }, ACME_READER)).sources).toEqual([]);
    // `limit` counts both lists, newest first.
    expect(await findings.list({ limit: 1 }, ROOT)).toMatchObject({ findings: [], sources: [{ id: nameless }], truncated: true });

    expect(await findings.explain({ id: burst }, ACME_READER)).toEqual({
      source: expect.objectContaining({ id: burst, recordedBy: DETECTOR, denied: expect.objectContaining({ until }) }),
      detector: {
        name: 'enumeration',
        watches: expect.stringMatching(/^unknown or malformed keys/),
        defaultThresholds: '20 distinct strings in 1 min (high); 4 in 1 min (medium)',
      },
    });
    expect(await refusal(() => findings.explain({ id: burst }, GLOBEX_ADMIN))).toBe(`FINDING_NOT_FOUND: no anomaly finding ${burst}`);
    expect(await refusal(() => findings.explain({ id: nameless }, ACME_ADMIN))).toBe(`FINDING_NOT_FOUND: no anomaly finding ${nameless}`);
    expect(await findings.explain({ id: nameless }, ROOT)).toMatchObject({ source: { id: nameless, tenant: '*', denied: null } });
  });

  it("refuses a trail row edited to move another tenant's finding into a list, naming its position", async () => {
    const [globex] = await ctx.store.readEvents([ids['globex']!]);
    await ctx.ownerDb.query(`update audit_trail set tenant = 'acme' where event_id = $1`, [ids['globex']]);
    try {
      expect(await refusal(() => findings.list({}, ACME_ADMIN))).toBe(
        `INTERNAL: the audit trail disagrees with the event store at position ${globex!.position} (its tenant differs from the trail row); run keyledger audit verify`,
      );
    } finally {
      await ctx.ownerDb.query(`update audit_trail set tenant = 'globex' where event_id = $1`, [ids['globex']]);
    }
  });

  it('keeps a flood of source findings from pushing key findings out of a list narrowed to keys, and lists no source finding as unacknowledged', async () => {
    // More source findings for acme than a list reads rows, all newer than its key findings: calls naming a tenant can make them.
    const detectedAt = new Date().toISOString();
    for (let n = 0; n < 6; n += 1) {
      const network = `100.65.${n}.0/24`;
      const events = Array.from({ length: 1000 }, () => ({
        type: 'SourceAnomalyDetected' as const,
        data: { network, tenant: 'acme', detector: 'enumeration', severity: 'high', detail: 'flood', detectedAt },
        metadata: testMetadata({ actor: DETECTOR }),
      }));
      await ctx.store.append(streamIdOf('network', network.replace('/', '_')), 0, events);
    }
    await rebuildProjection(ctx.appDb, ctx.store, new AuditTrailProjection());
    expect(await findings.list({ kind: 'usage-spike' }, ACME_READER)).toMatchObject({ findings: [{ id: ids['spike'] }], sources: [], truncated: false });
    expect(await findings.list({ detector: 'rate-spike' }, ACME_READER)).toMatchObject({ findings: [{ id: ids['spike'] }], truncated: false });
    expect(listed(await findings.list({ unacked: true }, ACME_READER))).toEqual([ids['spike']]);
    expect((await findings.list({ unacked: true }, ACME_READER)).sources).toEqual([]);
    expect(await findings.list({ detector: 'enumeration', keyId: keyId(1) }, ACME_READER)).toEqual({ findings: [], sources: [], truncated: false });
    // Unnarrowed, the flood fills the rows read, and the list says so.
    expect(await findings.list({ limit: 1000 }, ACME_READER)).toMatchObject({ findings: [], truncated: true });
  });
});
