import { randomBytes } from 'node:crypto';
import type { AnomalyAckResult, AnomalyExplanation, AnomalyFindingsPage, EventEnvelope, KeyView } from '@keyledger/contracts';
import { streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, startServices } from '@keyledger/testing';

const randomKey = (): string => formatNewKey('kl', 'live', (n) => randomBytes(n));

interface Issued {
  readonly keyId: string;
  readonly key: string;
}

/**
 * Anomaly findings end to end on the built services: a honeytoken presented once is a finding
 * the detector records and the rotator handles; its tenant's admin lists it with the CLI,
 * explains it and acknowledges it twice (one AnomalyAcknowledged in the store); another
 * tenant's admin neither sees nor acknowledges it, over the CLI or straight over NATS.
 */
describe('anomalies, end to end', () => {
  let ctx: TestContext;
  let services: RunningServices;
  let api: NatsKeyApi;
  const rootKey = randomKey();
  let honeytoken: KeyView & { key: string };
  let acmeAdmin: Issued;
  let acmeReader: Issued;
  let globexAdmin: Issued;

  const cli = (args: string[], adminKey: string) => runCli(ctx, args, { adminKey });
  const json = async <T>(args: string[], adminKey: string): Promise<T> => {
    const run = await cli([...args, '--json'], adminKey);
    if (run.code !== 0) throw new Error(`keyledger ${args.join(' ')}: ${run.stderr}`);
    return JSON.parse(run.stdout) as T;
  };
  const acknowledgements = async (): Promise<EventEnvelope[]> =>
    (await ctx.store.readStream(streamIdOf('key', honeytoken.keyId))).filter((event) => event.type === 'AnomalyAcknowledged');

  beforeAll(async () => {
    ctx = await createTestContext('anomaliescli');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'auditor', 'anomaly-detector', 'rotator'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      CONSUMER_BACKOFF_MS: '100,500',
    });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    // Admin keys without an IP allowlist: over NATS a caller has no address, and an allowlist refuses it.
    acmeAdmin = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'ops', scopes: ['keyledger:keys:read', 'keyledger:keys:write'], expiresAt });
    acmeReader = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'ops', scopes: ['keyledger:keys:read'], expiresAt });
    globexAdmin = await api.ok<Issued>('keys.issue', { tenant: 'globex', owner: 'ops', scopes: ['keyledger:keys:read', 'keyledger:keys:write'], expiresAt });
    honeytoken = await json<KeyView & { key: string }>(
      ['keys', 'issue', '--tenant', 'acme', '--owner', 'payments', '--scopes', 'billing:*', '--honeytoken'],
      rootKey,
    );
    // The verifier follows the store in order: once it knows a key issued after the honeytoken, it holds the honeytoken too.
    const later = await api.ok<Issued>('keys.issue', { tenant: 'acme', owner: 'payments', scopes: ['billing:*'] });
    await eventually(
      'the verifier knows the later key',
      () => api.verify({ key: later.key }),
      (result) => result.valid,
      30_000,
    );
    expect(await api.verify({ key: honeytoken.key, scopes: ['billing:write'] })).toEqual({ valid: false, code: 'NOT_FOUND' });
  }, 120_000);

  afterAll(async () => {
    services?.stop();
    await ctx?.close();
  });

  it("lists the honeytoken's finding to its tenant's admin, with what the incident policy did", async () => {
    const page = await eventually(
      'the finding listed and handled',
      () => json<AnomalyFindingsPage>(['anomalies', 'list'], acmeAdmin.key),
      (found) => found.findings.some((finding) => finding.keyId === honeytoken.keyId && finding.handled !== null),
      60_000,
    );
    expect(page.findings).toEqual([
      expect.objectContaining({
        keyId: honeytoken.keyId,
        tenant: 'acme',
        kind: 'honeytoken',
        severity: 'critical',
        recordedBy: 'system:anomaly-detector',
        call: expect.objectContaining({ transport: 'nats', scopes: ['billing:write'] }),
        handled: expect.objectContaining({ policy: 'notify', action: 'notify', reason: 'honeytoken' }),
        acknowledged: null,
      }),
    ]);
    const id = page.findings[0]!.id;
    const table = await cli(['anomalies', 'list', '--kind', 'honeytoken', '--severity', 'critical', '--unacked', '--since', '1h'], acmeAdmin.key);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('1 finding(s)');
    expect(table.stdout).toContain(id);
    expect(table.stdout).toContain('notify (honeytoken)');
    expect((await json<AnomalyFindingsPage>(['anomalies', 'list', '--kind', 'usage-spike'], acmeAdmin.key)).findings).toEqual([]);
    expect((await json<AnomalyFindingsPage>(['anomalies', 'list', '--key', honeytoken.keyId], rootKey)).findings.map((finding) => finding.id)).toEqual([id]);
    // A root admin without --tenant sees every tenant's findings.
    expect((await json<AnomalyFindingsPage>(['anomalies', 'list'], rootKey)).findings.map((finding) => finding.id)).toContain(id);
  });

  it('explains the finding: the detector, the call, the policy applied and the key now', async () => {
    const [finding] = (await json<AnomalyFindingsPage>(['anomalies', 'list'], acmeAdmin.key)).findings;
    const explanation = await json<AnomalyExplanation>(['anomalies', 'explain', finding!.id], acmeReader.key);
    expect(explanation).toMatchObject({
      // What the detector judged, recorded with the finding.
      finding: { id: finding!.id, kind: 'honeytoken', handled: { action: 'notify' }, evidence: expect.objectContaining({ transport: 'nats' }) },
      detector: { name: 'honeytoken', defaultThresholds: 'any call' },
      key: { status: 'active', owner: 'payments', honeytoken: true },
    });
    const text = await cli(['anomalies', 'explain', finding!.id], acmeAdmin.key);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/detector\s*│\s*honeytoken/);
    expect(text.stdout).toMatch(/call\s*│.* over nats, scopes billing:write/);
    expect(text.stdout).toMatch(/evidence \(as seen\)\s*│.*transport nats/);
  });

  it("keeps another tenant's admin from seeing or acknowledging the finding", async () => {
    const [finding] = (await json<AnomalyFindingsPage>(['anomalies', 'list'], acmeAdmin.key)).findings;
    expect((await json<AnomalyFindingsPage>(['anomalies', 'list'], globexAdmin.key)).findings).toEqual([]);
    for (const args of [
      ['anomalies', 'list', '--tenant', 'acme'],
      ['anomalies', 'explain', finding!.id],
      ['anomalies', 'ack', finding!.id],
    ]) {
      const refused = await cli(args, globexAdmin.key);
      expect([args, refused.code === 0]).toEqual([args, false]);
      expect(refused.stdout).toBe('');
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).not.toContain(honeytoken.keyId);
    }
    expect((await api.call('anomalies.list', { tenant: 'acme' }, globexAdmin.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('anomalies.explain', { id: finding!.id }, globexAdmin.key)).error?.code).toBe('FINDING_NOT_FOUND');
    expect((await api.call('anomalies.ack', { id: finding!.id }, globexAdmin.key)).error?.code).toBe('FINDING_NOT_FOUND');
    // Reading is not acknowledging: keyledger:keys:write is needed.
    expect((await api.call('anomalies.ack', { id: finding!.id }, acmeReader.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('anomalies.ack', { id: finding!.id }, null)).error?.code).toBe('UNAUTHENTICATED');
    expect((await api.call('anomalies.ack', { id: 'not-an-id' }, acmeAdmin.key)).error?.code).toBe('INVALID_ARGUMENT');
    expect(await acknowledgements()).toEqual([]);
  });

  it('acknowledges the finding once, however often it is asked', async () => {
    const [finding] = (await json<AnomalyFindingsPage>(['anomalies', 'list'], acmeAdmin.key)).findings;
    const first = await json<AnomalyAckResult>(['anomalies', 'ack', finding!.id, '--note', 'our red team'], acmeAdmin.key);
    const second = await json<AnomalyAckResult>(['anomalies', 'ack', finding!.id, '--note', 'again'], acmeAdmin.key);
    expect(first).toMatchObject({
      outcome: 'ACKNOWLEDGED',
      findingId: finding!.id,
      keyId: honeytoken.keyId,
      acknowledged: { by: `admin-key:${acmeAdmin.keyId}`, note: 'our red team' },
    });
    expect(second).toEqual({ ...first, outcome: 'ALREADY_ACKNOWLEDGED' });
    expect((await acknowledgements()).map((event) => event.data)).toEqual([
      expect.objectContaining({ findingId: finding!.id, tenant: 'acme', acknowledgedBy: `admin-key:${acmeAdmin.keyId}`, note: 'our red team' }),
    ]);
    const listed = (await json<AnomalyFindingsPage>(['anomalies', 'list'], acmeAdmin.key)).findings[0];
    expect(listed?.acknowledged).toEqual(first.acknowledged);
    expect((await json<AnomalyFindingsPage>(['anomalies', 'list', '--unacked'], acmeAdmin.key)).findings).toEqual([]);
    // The key is as it was: an acknowledgement changes nothing of it.
    expect((await api.ok<KeyView>('keys.get', { keyId: honeytoken.keyId })).status).toBe('active');
  });
});
