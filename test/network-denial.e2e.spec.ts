import { randomBytes } from 'node:crypto';
import type { AnomalyFindingsPage, NetworkDenialView, SourceNetworkDeniedData, TenantNotification } from '@keyledger/contracts';
import { notificationSubject, streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, runCli, startServices } from '@keyledger/testing';

const ATTACKER = '203.0.113.77';
const ATTACKER_NETWORK = '203.0.113.0/24';
const HONEST = '198.51.100.20';
/** More distinct unknown keys than the enumeration detector allows one network in its window (20 a minute). */
const BURST = 40;

/**
 * A source network denied at every verifier, on real services, NATS and Postgres: an
 * enumeration burst over HTTP (from a trusted proxy, as nginx sends it) for a tenant whose
 * incident policy says `--on-enumeration deny` makes the anomaly detector record the finding and
 * SourceNetworkDenied; both verifiers then answer that network DENIED, on HTTP, NATS and gRPC, while
 * other callers verify; the tenant is told, and its admins (no other tenant's) find the findings in
 * `keyledger anomalies list`; an operator lifts it with `keyledger networks allow`.
 */
describe('a source network denied by the incident policy', () => {
  let ctx: TestContext;
  let services: RunningServices;
  let api: NatsKeyApi;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let key: string;

  const authorize = async (port: number, presented: string, ip: string): Promise<{ status: number; code: string | null }> => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/authorize`, {
      headers: { Authorization: `Bearer ${presented}`, 'X-Real-IP': ip, 'X-Keyledger-Tenant': 'acme' },
    });
    await response.arrayBuffer();
    return { status: response.status, code: response.headers.get('x-keyledger-code') };
  };
  const verifierPorts = (): number[] => services.of('verifier').map((verifier) => verifier.httpPort);
  const cli = (args: string[]) => runCli(ctx, args, { adminKey: rootKey });

  beforeAll(async () => {
    ctx = await createTestContext('netdeny');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'verifier', 'anomaly-detector', 'auditor'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      VERIFIER_TRUSTED_PROXIES: '127.0.0.1',
      USAGE_FLUSH_INTERVAL_MS: '100',
    });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    ({ key } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['orders:read'] }));
    for (const port of verifierPorts())
      await eventually(
        'each verifier knows the key',
        () => authorize(port, key, HONEST),
        (answer) => answer.code === 'VALID',
      );
  });

  afterAll(async () => {
    services?.stop();
    await ctx?.close();
  });

  it('records the enumeration, denies its network at every verifier and transport, and lifts it on an operator’s word', async () => {
    const set = await cli(['incident-policy', 'set', '--tenant', 'acme', '--on-enumeration', 'deny', '--deny-for', '1h', '--json']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ policy: { onEnumeration: 'deny', denyForMs: 3_600_000 } });
    // The attacker still holds a real key of the tenant: a denial refuses it too.
    expect(await authorize(verifierPorts()[0]!, key, ATTACKER)).toEqual({ status: 200, code: 'VALID' });

    const [port] = verifierPorts();
    const burst: (string | null)[] = [];
    for (let n = 0; n < BURST; n += 1)
      burst.push(
        (
          await authorize(
            port!,
            formatNewKey('kl', 'live', (size) => randomBytes(size)),
            ATTACKER,
          )
        ).code,
      );
    // Unknown keys until the line is crossed (the twentieth); on a loaded machine the denial may land
    // before the burst ends, and then it holds.
    expect(burst.slice(0, 20)).toEqual(new Array(20).fill('NOT_FOUND'));
    const deniedFrom = burst.indexOf('DENIED');
    expect(burst.slice(20, deniedFrom < 0 ? BURST : deniedFrom).every((code) => code === 'NOT_FOUND')).toBe(true);
    if (deniedFrom >= 0) expect(burst.slice(deniedFrom).every((code) => code === 'DENIED')).toBe(true);

    const denial = await eventually(
      'the anomaly detector denies the network',
      async () =>
        (await ctx.store.readStream(streamIdOf('network', '203.0.113.0_24')))
          .filter((event) => event.type === 'SourceNetworkDenied')
          .map((event) => event.data as SourceNetworkDeniedData),
      (events) => events.length > 0,
      30_000,
    );
    expect(denial[0]).toMatchObject({ network: ATTACKER_NETWORK, tenant: 'acme', reason: 'enumeration', deniedBy: 'system:anomaly-detector' });
    // The burst's first keys are slow enumeration's line (medium, recorded only); its twentieth is the burst's (high), which denies.
    // Rows are stored with the batch's baselines, just after the denial is appended.
    const findings = await eventually(
      'both findings stored',
      () =>
        ctx.ownerDb.query<{ finding_id: string; detector: string; severity: string }[]>(
          `select finding_id, detector, severity from anomaly_source_findings where network = $1 order by seen_at`,
          [ATTACKER_NETWORK],
        ),
      (rows) => rows.length >= 2,
      30_000,
    );
    expect(findings.map(({ detector, severity }) => [detector, severity])).toEqual([
      ['enumeration', 'medium'],
      ['enumeration', 'high'],
    ]);
    expect(findings[1]!.finding_id).toBe(denial[0]!.findingId);

    // The tenant is told of both on its notification subject, as of an incident on a key.
    const notifications = await ctx.js.consumers.get(ctx.topology.notificationStream, {
      filter_subjects: notificationSubject(ctx.topology.subjectPrefix, 'acme'),
    });
    const told: TenantNotification[] = [];
    for (let message = await notifications.next({ expires: 1000 }); message; message = await notifications.next({ expires: 1000 })) told.push(message.json());
    expect(told.map((n) => n.type === 'SourceIncident' && [n.incidentId, n.network, n.severity, n.policy, n.action])).toEqual([
      [findings[0]!.finding_id, ATTACKER_NETWORK, 'medium', 'deny', 'notify'],
      [findings[1]!.finding_id, ATTACKER_NETWORK, 'high', 'deny', 'deny'],
    ]);
    // Its admins find them with the keys' findings; another tenant's do not.
    const adminOf = async (tenant: string): Promise<string> =>
      (await api.ok<{ key: string }>('keys.issue', { tenant, owner: 'ops', scopes: ['keyledger:keys:read'] })).key;
    const [acmeAdmin, globexAdmin] = [await adminOf('acme'), await adminOf('globex')];
    const page = await eventually(
      'the auditor lists both findings',
      async () =>
        JSON.parse((await runCli(ctx, ['anomalies', 'list', '--detector', 'enumeration', '--json'], { adminKey: acmeAdmin })).stdout) as AnomalyFindingsPage,
      (listed) => listed.sources?.length === 2,
      30_000,
    );
    expect(page.findings).toEqual([]);
    expect(page.sources!.map(({ id, tenant, severity, denied }) => [id, tenant, severity, denied?.until ?? null])).toEqual([
      [findings[1]!.finding_id, 'acme', 'high', denial[0]!.until],
      [findings[0]!.finding_id, 'acme', 'medium', null],
    ]);
    const other = JSON.parse((await runCli(ctx, ['anomalies', 'list', '--json'], { adminKey: globexAdmin })).stdout) as AnomalyFindingsPage;
    expect(other.sources).toEqual([]);
    const explained = await runCli(ctx, ['anomalies', 'explain', findings[1]!.finding_id], { adminKey: acmeAdmin });
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain(ATTACKER_NETWORK);
    expect(explained.stdout).toContain(`deny until ${denial[0]!.until}`);
    const hidden = await runCli(ctx, ['anomalies', 'explain', findings[1]!.finding_id], { adminKey: globexAdmin });
    expect(hidden.code).not.toBe(0);
    expect(hidden.stderr).toContain('FINDING_NOT_FOUND');

    for (const verifierPort of verifierPorts()) {
      await eventually(
        'every verifier refuses the network',
        () => authorize(verifierPort, key, ATTACKER),
        (answer) => answer.code === 'DENIED',
      );
      expect(await authorize(verifierPort, key, ATTACKER)).toEqual({ status: 403, code: 'DENIED' });
      expect(await authorize(verifierPort, key, '203.0.113.200')).toEqual({ status: 403, code: 'DENIED' });
      expect(await authorize(verifierPort, key, HONEST)).toEqual({ status: 200, code: 'VALID' });
    }
    expect(await api.verify({ key, ip: ATTACKER })).toEqual({ valid: false, code: 'DENIED' });
    expect((await api.verify({ key, ip: HONEST })).code).toBe('VALID');
    const grpc = grpcClient(`127.0.0.1:${services.of('verifier')[1]!.grpcPort}`, 'VerifierService');
    try {
      const refused = await grpc.call('Verify', { key, ip: ATTACKER });
      // Nothing of the key is told to a denied caller.
      expect([refused.valid, refused.code, refused.keyId ?? null]).toEqual([false, 'DENIED', null]);
      expect(await grpc.call('Verify', { key, ip: HONEST })).toMatchObject({ valid: true, code: 'VALID' });
    } finally {
      grpc.close();
    }

    const listed = await cli(['networks', 'list', '--tenant', 'acme', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as NetworkDenialView[]).map(({ network, tenant, reason }) => ({ network, tenant, reason }))).toEqual([
      { network: ATTACKER_NETWORK, tenant: 'acme', reason: 'enumeration' },
    ]);

    const lifted = await cli(['networks', 'allow', ATTACKER_NETWORK, '--tenant', 'acme', '--json']);
    expect(lifted.code).toBe(0);
    expect(JSON.parse(lifted.stdout)).toEqual({ network: ATTACKER_NETWORK, tenant: 'acme', lifted: true });
    for (const verifierPort of verifierPorts())
      await eventually(
        'every verifier lets the network in again',
        () => authorize(verifierPort, key, ATTACKER),
        (answer) => answer.code === 'VALID',
      );
  });

  it('lets a root key deny a network for every tenant by hand, and refuses it to a tenant’s admin key', async () => {
    const tenantKey = (await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'ops', scopes: ['keyledger:keys:write'] })).key;
    const refused = await runCli(ctx, ['networks', 'deny', '192.0.2.0/24', '--tenant', '*', '--for', '10m'], { adminKey: tenantKey });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/PERMISSION_DENIED|only a root admin key/);
    const denied = await cli(['networks', 'deny', '192.0.2.0/24', '--tenant', '*', '--for', '10m', '--json']);
    expect(denied.code).toBe(0);
    await eventually(
      'the verifier refuses every tenant’s calls from it',
      () => api.verify({ key, ip: '192.0.2.1' }),
      (result) => result.code === 'DENIED',
    );
    const bad = await cli(['networks', 'deny', 'not-a-network', '--tenant', 'acme', '--for', '10m']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT|not a CIDR/);
  });
});
