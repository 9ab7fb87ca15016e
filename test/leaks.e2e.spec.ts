import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  EventEnvelope,
  IncidentNotification,
  IncidentPolicyView,
  IncidentReportResult,
  KeyIncidentHandledData,
  KeyLeakReportedData,
  KeyView,
} from '@keyledger/contracts';
import { deliverySubject, notificationSubject, streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import { recordAnomaly } from '@keyledger/key-incidents';
import type { CliRun, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, openDelivered, runCli, startServices, testMetadata } from '@keyledger/testing';

const HOUR = 3_600_000;

interface ScannedFinding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly hint: string;
  readonly commit?: string;
  readonly report?: IncidentReportResult;
}

/** Leaks found by `keyledger scan --report` in a git repository, and what the rotator does by the tenant's policy. */
describe('leaked keys and anomalies, from the scanner to the rotator', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let api: NatsKeyApi;
  let repo: string;
  /** Every plaintext the test saw: none may be stored or logged. */
  const plaintexts: string[] = [];

  const cli = (args: string[], adminKey = rootKey, input?: string): Promise<CliRun> => runCli(ctx, args, { adminKey, input });

  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', repo, '-c', 'user.email=dev@example.com', '-c', 'user.name=dev', ...args])
      .toString()
      .trim();

  /** Writes a file in the repository and commits it, as a developer would by mistake. */
  function commit(file: string, content: string): string {
    mkdirSync(join(repo, file, '..'), { recursive: true });
    writeFileSync(join(repo, file), content);
    git('add', '.');
    git('commit', '-qm', `add ${file}`);
    return git('rev-parse', 'HEAD');
  }

  const events = (keyId: string): Promise<EventEnvelope[]> => ctx.store.readStream(streamIdOf('key', keyId));
  const handled = async (keyId: string): Promise<KeyIncidentHandledData> => {
    const all = await eventually(
      `incident on ${keyId} handled`,
      () => events(keyId),
      (list) => list.some((event) => event.type === 'KeyIncidentHandled'),
      30_000,
    );
    return all.find((event) => event.type === 'KeyIncidentHandled')!.data as KeyIncidentHandledData;
  };

  async function issue(tenant: string, owner: string, scopes = ['orders:read']): Promise<{ keyId: string; key: string }> {
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant, owner, scopes });
    plaintexts.push(issued.key);
    return issued;
  }

  /** A plaintext is looked up in the issuer's projection, which trails a fresh key by milliseconds. */
  async function knownToIssuer(tenant: string, keyIds: string[]): Promise<void> {
    await eventually(
      'the issuer lists the keys',
      () => api.ok<{ keys: KeyView[] }>('keys.list', { tenant }),
      (list) => keyIds.every((keyId) => list.keys.some((key) => key.keyId === keyId)),
    );
  }

  async function messages<T>(stream: string, subject: string): Promise<T[]> {
    const consumer = await ctx.js.consumers.get(stream, { filter_subjects: subject });
    const found: T[] = [];
    for (let message = await consumer.next({ expires: 1000 }); message; message = await consumer.next({ expires: 1000 })) found.push(message.json<T>());
    return found;
  }

  beforeAll(async () => {
    ctx = await createTestContext('leaks');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'rotator'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      LOG_LEVEL: 'debug',
      CONSUMER_BACKOFF_MS: '100,500',
    });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    repo = mkdtempSync(join(tmpdir(), 'keyledger-leaks-'));
    git('init', '-q');
    commit('README.md', '# app\n');
  });

  afterAll(async () => {
    services?.stop();
    rmSync(repo, { recursive: true, force: true });
    await ctx.close();
  });

  it('finds a key committed to a git repository with scan --report and rotates it by the tenant’s policy, with grace, delivering the new key sealed', async () => {
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'billing',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    const set = await cli(['incident-policy', 'set', '--tenant', 'acme', '--on-leak', 'rotate', '--grace', '1h', '--json']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout) as IncidentPolicyView).toEqual({
      tenant: 'acme',
      owner: null,
      policy: { onLeak: 'rotate', onAnomaly: null, graceMs: HOUR, onEnumeration: null, denyForMs: null, anomalyRules: null },
      effective: { onLeak: 'rotate', onAnomaly: 'notify', graceMs: HOUR, onEnumeration: 'notify', denyForMs: HOUR, anomalyRules: [] },
    });
    expect(JSON.parse((await cli(['incident-policy', 'get', '--tenant', 'acme', '--json'])).stdout)).toEqual(JSON.parse(set.stdout));
    const leaked = await issue('acme', 'billing');
    // The CI job's key: it may report leaks, nothing else.
    const scanner = await issue('acme', 'ci', ['keyledger:leaks:report']);
    await eventually(
      'scanner key usable',
      () => api.verify({ key: scanner.key }),
      (r) => r.valid,
    );
    const leakingCommit = commit('config/app.env', `# settings\nAPI_KEY=${leaked.key}\n`);

    const scan = await cli(['scan', repo, '--report', '--repository', 'acme/app', '--json'], scanner.key);
    expect(scan.code).toBe(1);
    expect(scan.stdout).not.toContain(leaked.key);
    const findings = JSON.parse(scan.stdout) as ScannedFinding[];
    expect(findings.map(({ file, line, column, commit: sha }) => ({ file, line, column, commit: sha }))).toEqual([
      { file: join('config', 'app.env'), line: 2, column: 9, commit: undefined },
      { file: 'config/app.env', line: 2, column: 9, commit: leakingCommit },
    ]);
    // One report per key, at the first place it was found.
    for (const finding of findings)
      expect(finding.report).toMatchObject({
        outcome: 'REPORTED',
        keyId: leaked.keyId,
        tenant: 'acme',
        owner: 'billing',
        pendingAction: 'rotate',
        newKeyDelivery: ['nats'],
      });

    const incident = await handled(leaked.keyId);
    expect(incident).toMatchObject({ policy: 'rotate', action: 'rotate', replacedBy: expect.any(String) });
    const reported = (await events(leaked.keyId)).find((event) => event.type === 'KeyLeakReported')!;
    expect(reported.data as KeyLeakReportedData).toMatchObject({
      keyId: leaked.keyId,
      source: { file: join('config', 'app.env'), line: 2, column: 9, repository: 'acme/app' },
      evidence: 'plaintext',
      reportedBy: `admin-key:${scanner.keyId}`,
    });
    expect(Date.parse(incident.graceEndsAt!) - Date.parse(incident.at)).toBeLessThanOrEqual(HOUR);
    expect(Date.parse(incident.graceEndsAt!) - Date.parse(incident.at)).toBeGreaterThan(HOUR - 5000);

    // The leaked key keeps working until its grace end, so its owner is not cut off...
    const old = await eventually(
      'the verifier knows the grace end',
      () => api.verify({ key: leaked.key, scopes: ['orders:read'] }),
      (r) => r.expiresAt === incident.graceEndsAt,
    );
    expect(old).toMatchObject({ valid: true, keyId: leaked.keyId });
    // ...and the owner has its replacement, sealed to its public key.
    const [envelope] = await messages<unknown>(ctx.topology.deliveryStream, deliverySubject(ctx.topology.subjectPrefix, 'acme', 'billing'));
    const delivered = openDelivered(ctx, JSON.stringify(envelope), { tenant: 'acme', owner: 'billing', privateKey: owner.privateKey });
    plaintexts.push(delivered.key);
    expect(delivered.keyId).toBe(incident.replacedBy);
    expect(
      await eventually(
        'the delivered key verifies',
        () => api.verify({ key: delivered.key, scopes: ['orders:read'] }),
        (r) => r.valid,
      ),
    ).toMatchObject({ keyId: incident.replacedBy, owner: 'billing' });

    const notifications = await messages<IncidentNotification>(ctx.topology.notificationStream, notificationSubject(ctx.topology.subjectPrefix, 'acme'));
    expect(notifications).toEqual([
      expect.objectContaining({ incident: 'KeyLeakReported', keyId: leaked.keyId, action: 'rotate', replacedBy: incident.replacedBy, delivery: 'DELIVERED' }),
    ]);
    // The rotator counts what it handled, by incident and action.
    const rotatorMetrics = await fetch(`http://127.0.0.1:${services.of('rotator')[0]!.httpPort}/metrics`).then((r) => r.text());
    expect(rotatorMetrics).toMatch(/^keyledger_rotator_incidents_total\{(?=[^}]*\bincident="KeyLeakReported")(?=[^}]*\baction="rotate")[^}]*\} 1$/m);

    // Scanning again reports nothing new and rotates nothing more.
    const again = await cli(['scan', repo, '--report', '--repository', 'acme/app'], scanner.key);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(`already reported there; rotate → ${incident.replacedBy}`);
    expect(again.stdout).toContain(`the new key ${incident.replacedBy} is delivered to owner billing (nats) until it acknowledges`);
    expect((await events(leaked.keyId)).filter((event) => event.type === 'KeyRotated')).toHaveLength(1);
    const view = JSON.parse((await cli(['keys', 'get', leaked.keyId, '--json'])).stdout) as KeyView;
    expect(view.rotation).toMatchObject({ replacedBy: incident.replacedBy, emergency: false });
    // The key says it was reported leaked, in its view and in the list, once the issuer's projection has the report.
    expect(view.leakReportedAt).toBe((reported.data as KeyLeakReportedData).at);
    const listed = await eventually(
      'the list shows the leak',
      () => cli(['keys', 'list', '--tenant', 'acme', '--owner', 'billing']),
      (run) => run.stdout.includes('LEAKED'),
    );
    expect(listed.stdout).toMatch(/active, LEAKED, replaced: in grace until/);
  });

  it('refuses the old key at once under an emergency-rotate or suspend policy', async () => {
    expect((await cli(['incident-policy', 'set', '--tenant', 'acme', '--owner', 'payments', '--on-leak', 'emergency-rotate'])).code).toBe(0);
    const suspendSet = await cli(['incident-policy', 'set', '--tenant', 'acme', '--owner', 'reports', '--on-leak', 'suspend']);
    expect(suspendSet.stdout).toContain('on leak suspend');
    const payments = await issue('acme', 'payments');
    const reports = await issue('acme', 'reports');
    await knownToIssuer('acme', [payments.keyId, reports.keyId]);
    commit('deploy/payments.yaml', `env:\n  - name: KEY\n    value: ${payments.key}\n`);

    const scan = await cli(['scan', join(repo, 'deploy'), '--report', '--no-history']);
    expect(scan.code).toBe(1);
    expect(scan.stdout).toContain('reported; emergency-rotate pending');
    // Its owner registered no public key and no webhook: the user is told nobody has the new key, and what to do.
    expect(scan.stdout).toContain(
      'nobody holds the plaintext of the new key: owner payments has no public key or webhook registered. Register one (keyledger owners register-public-key --tenant acme --owner payments',
    );
    // A leak seen elsewhere, reported by hand with the key on standard input.
    const byHand = await cli(['keys', 'report-leak', '-', '--description', 'pasted in a support ticket', '--json'], rootKey, reports.key);
    expect(byHand.code).toBe(0);
    expect(JSON.parse(byHand.stdout) as IncidentReportResult).toMatchObject({ outcome: 'REPORTED', keyId: reports.keyId, pendingAction: 'suspend' });

    expect(await handled(payments.keyId)).toMatchObject({ action: 'emergency-rotate' });
    expect(await handled(reports.keyId)).toMatchObject({ action: 'suspend' });
    // Every verifier refuses them: the revocation and the suspension are applied, whatever the policy's grace.
    const [revoked, disabled] = await eventually(
      'the leaked keys refused',
      () => Promise.all([api.verify({ key: payments.key }), api.verify({ key: reports.key })]),
      ([p, r]) => p.code === 'REVOKED' && r.code === 'DISABLED',
    );
    expect([revoked.valid, disabled.valid]).toEqual([false, false]);
  });

  it('tells unknown and malformed keys apart from reported ones, and records nothing for them', async () => {
    const count = async (): Promise<number> => (await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events`))[0]!.n;
    const before = await count();
    const unknown = await cli(['keys', 'report-leak', formatNewKey('kl', 'live', (n) => randomBytes(n)), '--file', 'x.env', '--json']);
    expect([unknown.code, JSON.parse(unknown.stdout)]).toEqual([1, { outcome: 'NOT_FOUND' }]);
    const malformed = await cli(['keys', 'report-leak', 'kl_live_typo', '--file', 'x.env', '--json']);
    expect([malformed.code, JSON.parse(malformed.stdout)]).toEqual([1, { outcome: 'MALFORMED' }]);
    const noPlace = await cli(['keys', 'report-leak', '--key-id', 'key_01jdaaaaaaaaaaaaaaaaaaaaaa']);
    expect(noPlace.code).toBe(4);
    expect(noPlace.stderr).toContain('INVALID_ARGUMENT');
    expect(await count()).toBe(before);
  });

  it('rotates a key on an anomaly when the policy says so, whether an operator or the anomaly detector records it', async () => {
    expect((await cli(['incident-policy', 'set', '--tenant', 'acme', '--owner', 'metered', '--on-anomaly', 'rotate', '--grace', '10m'])).code).toBe(0);
    const [reportedByHand, detected] = [await issue('acme', 'metered'), await issue('acme', 'metered')];
    const report = await cli(['keys', 'report-anomaly', reportedByHand.keyId, '--kind', 'usage-spike', '--severity', 'high', '--detail', '40x the usual rate']);
    expect(report.stdout).toContain('reported; rotate pending');
    // What the anomaly detector will do: append AnomalyDetected to the key's stream.
    await recordAnomaly(
      ctx.store,
      { keyId: detected.keyId, tenant: 'acme', kind: 'new-source', severity: 'critical', detectedAt: new Date().toISOString() },
      testMetadata({ actor: 'system:anomaly-detector' }),
    );
    for (const { keyId, key } of [reportedByHand, detected]) {
      const incident = await handled(keyId);
      expect(incident).toMatchObject({ incident: { type: 'AnomalyDetected' }, policy: 'rotate', action: 'rotate' });
      expect(Date.parse(incident.graceEndsAt!) - Date.parse(incident.at)).toBeLessThanOrEqual(10 * 60_000);
      const old = await eventually(
        'the verifier knows the grace end',
        () => api.verify({ key }),
        (r) => r.expiresAt === incident.graceEndsAt,
      );
      expect(old).toMatchObject({ valid: true, keyId });
    }
  });

  it('refuses every incident call without a valid admin key, beyond its scopes or for another tenant', async () => {
    const key = await issue('acme', 'guarded');
    const readOnly = await issue('acme', 'auditor', ['keyledger:keys:read']);
    const globexAdmin = await issue('globex', 'ops', ['keyledger:*']);
    await knownToIssuer('acme', [key.keyId, readOnly.keyId]);
    await knownToIssuer('globex', [globexAdmin.keyId]);
    const calls: [string, unknown][] = [
      ['keys.report-leak', { key: key.key, source: { file: 'a.env' } }],
      ['keys.report-leak', { keyId: key.keyId, source: { file: 'a.env' } }],
      ['keys.report-anomaly', { keyId: key.keyId, kind: 'other', severity: 'low' }],
      ['incident-policy.set', { tenant: 'acme', onLeak: 'notify' }],
      ['incident-policy.get', { tenant: 'acme' }],
    ];
    for (const [operation, body] of calls) {
      expect([operation, (await api.call(operation, body, null)).error?.code]).toEqual([operation, 'UNAUTHENTICATED']);
      expect([operation, (await api.call(operation, body, 'kl_live_garbage')).error?.code]).toEqual([operation, 'UNAUTHENTICATED']);
    }
    for (const [operation, body] of calls.slice(0, 4))
      expect([operation, (await api.call(operation, body, readOnly.key)).error?.code]).toEqual([operation, 'PERMISSION_DENIED']);
    // Another tenant's key is not found, as in keys.get; another tenant's policy is not theirs to read or set.
    expect((await api.call('keys.report-leak', { key: key.key, source: { file: 'a.env' } }, globexAdmin.key)).result).toEqual({ outcome: 'NOT_FOUND' });
    expect((await api.call('keys.report-anomaly', { keyId: key.keyId, kind: 'other', severity: 'low' }, globexAdmin.key)).error?.code).toBe('KEY_NOT_FOUND');
    expect((await api.call('incident-policy.get', { tenant: 'acme' }, globexAdmin.key)).error?.code).toBe('PERMISSION_DENIED');
    expect(await events(key.keyId)).toHaveLength(1);
  });

  it('takes leak and anomaly reports over gRPC as over NATS, with the same outcomes and errors', async () => {
    const grpcKeys = grpcClient(`127.0.0.1:${services.of('issuer')[0]!.grpcPort}`, 'KeyService');
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${rootKey}`);
    try {
      const leaked = await issue('globex', 'svc');
      await knownToIssuer('globex', [leaked.keyId]);
      const reported = await grpcKeys.call('ReportLeak', { key: leaked.key, source: { file: 'app.env', line: 4 } }, metadata);
      expect(reported).toMatchObject({ outcome: 'REPORTED', keyId: leaked.keyId, tenant: 'globex', pendingAction: 'rotate', incidentId: expect.any(String) });
      expect(await handled(leaked.keyId)).toMatchObject({ action: 'rotate' });
      const again = await grpcKeys.call('ReportLeak', { keyId: leaked.keyId, source: { file: 'app.env', line: 4 } }, metadata);
      expect(again).toMatchObject({ outcome: 'ALREADY_REPORTED', handled: { action: 'rotate', replacedBy: expect.any(String) } });
      expect(await grpcKeys.call('ReportLeak', { key: 'kl_live_nope', source: { file: 'a' } }, metadata)).toMatchObject({ outcome: 'MALFORMED' });
      const invalid = await grpcKeys.call('ReportLeak', { keyId: leaked.keyId, source: {} }, metadata).then(
        () => undefined,
        (error: grpc.ServiceError) => error,
      );
      expect(invalid?.code).toBe(grpc.status.INVALID_ARGUMENT);
      const anomaly = await grpcKeys.call('ReportAnomaly', { keyId: leaked.keyId, kind: 'error-rate', severity: 'low' }, metadata);
      expect(anomaly).toMatchObject({ outcome: 'REPORTED', keyId: leaked.keyId });
      const missing = await grpcKeys.call('ReportAnomaly', { keyId: 'key_01jdaaaaaaaaaaaaaaaaaaaaaa', kind: 'other', severity: 'low' }, metadata).then(
        () => undefined,
        (error: grpc.ServiceError) => error,
      );
      expect(missing?.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      grpcKeys.close();
    }
  });

  it('never stores, publishes or logs a key’s plaintext', async () => {
    const stored = JSON.stringify(await ctx.ownerDb.query(`select data, metadata from events`));
    const notified = JSON.stringify(await messages<unknown>(ctx.topology.notificationStream, `${ctx.topology.subjectPrefix}.v1.notifications.>`));
    const logs = services.logs();
    expect(stored).toContain('KeyLeakReported');
    expect(logs).toContain('incident handled');
    expect(plaintexts.length).toBeGreaterThanOrEqual(11);
    for (const plaintext of plaintexts) {
      expect(stored).not.toContain(plaintext);
      expect(notified).not.toContain(plaintext);
      expect(logs).not.toContain(plaintext);
    }
  });
});
