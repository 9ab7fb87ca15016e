import { randomBytes } from 'node:crypto';
import { headers } from '@nats-io/transport-node';
import { apiSubject } from '@keyledger/contracts';
import type { KeyView, VerifyResult } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { formatNewKey } from '@keyledger/key-domain';
import type { TestContext } from '@keyledger/testing';
import type { ApiReply, NatsKeyApi, RunningServices } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, readStreamMessages, startServices } from '@keyledger/testing';

describe('key lifecycle through NATS and HTTP', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const issuedKeys: string[] = [rootKey];
  let services: RunningServices;
  let api: NatsKeyApi;
  let verifierPorts: number[] = [];

  const call = <T>(operation: string, body: unknown, adminKey: string | null = rootKey): Promise<ApiReply<T>> => api.call<T>(operation, body, adminKey);
  const verifyOverNats = (body: Record<string, unknown>): Promise<VerifyResult> => api.verify(body);

  async function authorize(
    port: number,
    key: string,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; code: string | null; keyId: string | null }> {
    const response = await fetch(`http://127.0.0.1:${port}/v1/authorize`, { headers: { Authorization: `Bearer ${key}`, ...extra } });
    return { status: response.status, code: response.headers.get('x-keyledger-code'), keyId: response.headers.get('x-keyledger-key-id') };
  }

  async function issue(body: Record<string, unknown>, adminKey = rootKey): Promise<{ keyId: string; key: string; view: KeyView }> {
    const reply = await call<{ keyId: string; key: string; view: KeyView }>('keys.issue', body, adminKey);
    if (!reply.ok) throw new Error(`issue failed: ${JSON.stringify(reply.error)}`);
    issuedKeys.push(reply.result.key);
    return reply.result;
  }

  beforeAll(async () => {
    ctx = await createTestContext('lifecycle');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, LOG_LEVEL: 'trace' });
    verifierPorts = services.of('verifier').map((verifier) => verifier.httpPort);
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await ctx.close();
  });

  it('issues a key that every interface then verifies, with its scopes, allowlist and tenant', async () => {
    const { keyId, key, view } = await issue({
      tenant: 'acme',
      owner: 'billing',
      scopes: ['orders:*'],
      ipAllowlist: ['10.0.0.0/8'],
      metadata: { team: 'payments' },
    });
    expect(key).toMatch(/^kl_live_[0-9A-Za-z]{38}$/);
    expect(view).toMatchObject({ keyId, tenant: 'acme', owner: 'billing', status: 'active', scopes: ['orders:*'], ipAllowlist: ['10.0.0.0/8'] });
    expect(JSON.stringify(view)).not.toContain(key);
    await eventually(
      'verifiers know the key',
      () => verifyOverNats({ key, scopes: ['orders:read'], ip: '10.1.2.3' }),
      (r) => r.code === 'VALID',
    );
    expect(await verifyOverNats({ key, scopes: ['orders:read'], ip: '::ffff:10.1.2.3', tenant: 'acme' })).toMatchObject({ valid: true, keyId, tenant: 'acme' });
    expect((await verifyOverNats({ key, scopes: ['users:read'], ip: '10.1.2.3' })).code).toBe('INSUFFICIENT_PERMISSIONS');
    expect((await verifyOverNats({ key, ip: '192.168.1.1' })).code).toBe('FORBIDDEN');
    expect((await verifyOverNats({ key, ip: '10.1.2.3', tenant: 'other' })).code).toBe('NOT_FOUND');
    expect((await verifyOverNats({ key, ip: '10.1.2.3', env: 'test' })).code).toBe('FORBIDDEN');
    for (const port of verifierPorts) {
      expect(await authorize(port, key, { 'X-Required-Scope': 'orders:read', 'X-Forwarded-For': '172.16.0.1, 10.9.9.9' })).toEqual({
        status: 200,
        code: 'VALID',
        keyId,
      });
      expect((await authorize(port, key, { 'X-Required-Scope': 'users:read', 'X-Real-IP': '10.9.9.9' })).status).toBe(403);
    }
  });

  it('answers MALFORMED, never an error, to bad keys and bad requests of any size or encoding', async () => {
    for (const key of ['', 'kl_live_nope', 'x'.repeat(100_000), '\u0000\uffff', rootKey.slice(0, -1) + (rootKey.endsWith('a') ? 'b' : 'a')]) {
      expect((await verifyOverNats({ key })).code).toBe('MALFORMED');
    }
    const raw = await ctx.nc.request(apiSubject(ctx.topology.subjectPrefix, 'keys.verify'), new Uint8Array([0xff, 0xfe, 0x00]), { timeout: 5000 });
    expect(raw.json<VerifyResult>().code).toBe('MALFORMED');
    expect((await verifyOverNats({ key: 42, unexpected: true })).code).toBe('MALFORMED');
    expect((await authorize(verifierPorts[0]!, 'garbage')).status).toBe(401);
    const noKey = await fetch(`http://127.0.0.1:${verifierPorts[0]!}/v1/authorize`);
    expect([noKey.status, noKey.headers.get('x-keyledger-code')]).toEqual([401, 'MALFORMED']);
  });

  it('suspends, resumes and updates a key, and verifiers follow', async () => {
    const { keyId, key } = await issue({ tenant: 'acme', owner: 'reports', scopes: ['reports:read'] });
    await eventually(
      'key known',
      () => verifyOverNats({ key }),
      (r) => r.code === 'VALID',
    );
    expect((await api.ok<KeyView>('keys.suspend', { keyId, reason: 'investigating' })).status).toBe('suspended');
    await eventually(
      'suspension applied',
      () => verifyOverNats({ key }),
      (r) => r.code === 'DISABLED',
    );
    expect((await authorize(verifierPorts[1]!, key)).status).toBe(401);
    expect((await api.ok<KeyView>('keys.resume', { keyId })).status).toBe('active');
    await eventually(
      'resumption applied',
      () => verifyOverNats({ key }),
      (r) => r.code === 'VALID',
    );
    expect((await api.ok<KeyView>('keys.update', { keyId, scopes: ['reports:*'] })).scopes).toEqual(['reports:*']);
    await eventually(
      'update applied',
      () => verifyOverNats({ key, scopes: ['reports:export'] }),
      (r) => r.code === 'VALID',
    );
    expect(await api.ok<KeyView>('keys.get', { keyId })).toMatchObject({ keyId, scopes: ['reports:*'], version: 4 });
  });

  it('answers a revocation only once every verifier rejects the key', async () => {
    const { keyId, key } = await issue({ tenant: 'acme', owner: 'batch' });
    for (const port of verifierPorts)
      await eventually(
        'key known everywhere',
        () => authorize(port, key),
        (r) => r.status === 200,
      );
    const reply = await api.ok<{ view: KeyView; fence: { complete: boolean; verifiers: unknown[] } }>('keys.revoke', { keyId, reason: 'rotated out' });
    expect(reply.view.status).toBe('revoked');
    expect(reply.fence).toMatchObject({ complete: true });
    expect(reply.fence.verifiers).toHaveLength(2);
    // No waiting here: the fence already guaranteed it.
    for (const port of verifierPorts) expect(await authorize(port, key)).toMatchObject({ status: 401, code: 'REVOKED' });
    expect((await call('keys.resume', { keyId })).error?.code).toBe('INVALID_TRANSITION');
  });

  it('protects the admin plane with admin keys limited to their tenant', async () => {
    expect((await call('keys.list', { tenant: 'acme' }, null)).error?.code).toBe('UNAUTHENTICATED');
    expect((await call('keys.list', { tenant: 'acme' }, 'kl_live_garbage')).error?.code).toBe('UNAUTHENTICATED');
    const acmeAdmin = await issue({ tenant: 'acme', owner: 'ops', scopes: ['keyledger:keys:write', 'keyledger:keys:read'] });
    await eventually('acme admin usable', () => call('keys.list', { tenant: 'acme' }, acmeAdmin.key).then((r) => r.ok), Boolean);
    const other = await issue({ tenant: 'globex', owner: 'svc' });
    expect((await call('keys.issue', { tenant: 'globex', owner: 'x' }, acmeAdmin.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await call('keys.get', { keyId: other.keyId }, acmeAdmin.key)).error?.code).toBe('KEY_NOT_FOUND');
    expect((await call('keys.revoke', { keyId: other.keyId, reason: 'x' }, acmeAdmin.key)).error?.code).toBe('KEY_NOT_FOUND');
    const readOnly = await issue({ tenant: 'acme', owner: 'auditor', scopes: ['keyledger:keys:read'] });
    await eventually('read-only admin usable', () => call('keys.list', { tenant: 'acme' }, readOnly.key).then((r) => r.ok), Boolean);
    expect((await call('keys.issue', { tenant: 'acme', owner: 'x' }, readOnly.key)).error?.code).toBe('PERMISSION_DENIED');
    const listed = await api.ok<{ keys: KeyView[] }>('keys.list', { tenant: 'acme' }, readOnly.key);
    expect(listed.keys.every((k) => k.tenant === 'acme')).toBe(true);
  });

  it('rejects bad commands with a typed error and records nothing', async () => {
    const before = (await ctx.store.readAll(START_OF_LOG, 100_000).then((page) => page.events)).length;
    const bad = [
      call('keys.issue', { tenant: 'acme', owner: 'x', scopes: ['Not A Scope'] }),
      call('keys.issue', { tenant: 'acme', owner: 'x', ipAllowlist: ['10.0.0.0/99'] }),
      call('keys.issue', { tenant: 'ACME!', owner: 'x' }),
      call('keys.issue', { tenant: 'acme', owner: 'x', expiresAt: '2001-01-01T00:00:00Z' }),
      call('keys.issue', { tenant: 'acme', owner: 'x', surprise: 1 }),
      call('keys.update', { keyId: 'key_nope' }),
    ];
    for (const reply of await Promise.all(bad)) expect(reply.error?.code).toBe('INVALID_ARGUMENT');
    const h = headers();
    h.set('Authorization', `Bearer ${rootKey}`);
    h.set('Keyledger-Correlation-Id', 'c'.repeat(500));
    const tooLong = await ctx.nc.request(apiSubject(ctx.topology.subjectPrefix, 'keys.issue'), JSON.stringify({ tenant: 'acme', owner: 'x' }), {
      timeout: 5000,
      headers: h,
    });
    expect(tooLong.json<ApiReply<unknown>>().error?.code).toBe('INVALID_ARGUMENT');
    const raw = await ctx.nc.request(apiSubject(ctx.topology.subjectPrefix, 'keys.issue'), 'not json', { timeout: 5000 });
    expect(raw.json<ApiReply<unknown>>().error?.code).toBe('INVALID_ARGUMENT');
    expect((await ctx.store.readAll(START_OF_LOG, 100_000).then((page) => page.events)).length).toBe(before);
  });

  it('exposes Prometheus metrics: verify outcomes by transport, projection freshness, relay progress', async () => {
    const scrape = (port: number): Promise<string> => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    const sample = (text: string, series: string): number =>
      Number(new RegExp(`^${series.replace(/[{}"=,]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const verifier = await scrape(verifierPorts[0]!);
    expect(sample(verifier, 'keyledger_verify_total{code="VALID",transport="http",service="verifier"}')).toBeGreaterThan(0);
    // Prometheus labels are a set: HotPathHistogram writes them in another order than prom-client did.
    expect(verifier).toMatch(
      /^keyledger_verify_duration_seconds_bucket\{(?=[^}]*\ble="0\.00005")(?=[^}]*\bservice="verifier")(?=[^}]*\btransport="nats")[^}]*\} \d+$/m,
    );
    expect(sample(verifier, 'keyledger_projection_failing_closed{service="verifier"}')).toBe(0);
    expect(sample(verifier, 'keyledger_projection_keys{service="verifier"}')).toBeGreaterThan(3);
    const relay = await scrape(services.of('relay')[0]!.httpPort);
    expect(sample(relay, 'keyledger_relay_leader{service="relay"}')).toBe(1);
    expect(sample(relay, 'keyledger_relay_published_total{service="relay"}')).toBeGreaterThan(5);
    expect(relay).toMatch(/^keyledger_relay_lag_seconds_count\{service="relay"\} [1-9]\d*$/m);
  });

  it('keeps every plaintext key out of the database, the event stream and the logs', async () => {
    const tables = await ctx.ownerDb.query<{ table_name: string }[]>(`select table_name from information_schema.tables where table_schema = $1`, [ctx.schema]);
    const dump: string[] = [];
    for (const { table_name } of tables) {
      const rows = await ctx.ownerDb.query<{ row: string }[]>(`select t::text as row from ${ctx.schema}."${table_name}" t`);
      dump.push(...rows.map((r) => r.row));
    }
    const messages = await readStreamMessages(ctx.js, ctx.topology.eventStream, (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages);
    const streamText = messages.map((m) => m.string()).join('\n');
    const logs = services.logs();
    expect(dump.length).toBeGreaterThan(10);
    expect(logs).toContain('[redacted]'); // the verifier logged requests, with the key redacted
    for (const key of issuedKeys) {
      const body = key.slice(8, 40);
      expect(dump.join('\n')).not.toContain(body);
      expect(streamText).not.toContain(body);
      expect(logs).not.toContain(body);
    }
  });
});
