import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningNginx, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, freePort, natsKeyApi, startNginx, startServices } from '@keyledger/testing';

describe('nginx auth_request in front of an upstream', () => {
  let ctx: TestContext;
  let nginx: RunningNginx;
  let upstream: Server;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let admin: <T>(operation: string, body: unknown) => Promise<T>;

  function get(
    path: string,
    key?: string,
    header = 'Authorization',
    extra: Record<string, string> = {},
  ): Promise<{ status: number; body: string; code: string | null }> {
    const value = key === undefined ? undefined : header === 'Authorization' ? `Bearer ${key}` : key;
    return fetch(`http://127.0.0.1:${nginx.port}${path}`, { headers: { ...extra, ...(value ? { [header]: value } : {}) } }).then(async (r) => ({
      status: r.status,
      body: await r.text(),
      code: r.headers.get('x-keyledger-code'),
    }));
  }

  beforeAll(async () => {
    ctx = await createTestContext('nginx');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey });
    const verifierPort = services.of('verifier')[0]!.httpPort;
    const api = natsKeyApi(ctx, rootKey);
    admin = <T>(operation: string, body: unknown): Promise<T> => api.ok<T>(operation, body);
    // The sample upstream echoes who nginx says the caller is.
    upstream = createServer((request, response) => {
      response.end(`hello ${String(request.headers['x-keyledger-key-id'])} of ${String(request.headers['x-keyledger-tenant'])}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as { port: number }).port;
    const nginxPort = await freePort();
    nginx = await startNginx(
      nginxPort,
      `server {
        listen 127.0.0.1:${nginxPort};
        location /orders/ {
          auth_request /_keyledger;
          auth_request_set $kl_key_id $upstream_http_x_keyledger_key_id;
          auth_request_set $kl_tenant $upstream_http_x_keyledger_tenant;
          auth_request_set $kl_code $upstream_http_x_keyledger_code;
          add_header X-Keyledger-Code $kl_code always;
          proxy_set_header X-Keyledger-Key-Id $kl_key_id;
          proxy_set_header X-Keyledger-Tenant $kl_tenant;
          proxy_pass http://127.0.0.1:${upstreamPort};
        }
        location = /_keyledger {
          internal;
          proxy_pass http://127.0.0.1:${verifierPort}/v1/authorize;
          proxy_pass_request_body off;
          proxy_set_header Content-Length "";
          proxy_set_header X-Required-Scope "orders:read";
          # Who calls and what it costs: set here, never passed on from the client (docs/api.md).
          proxy_set_header X-Real-IP $remote_addr;
          proxy_set_header X-Forwarded-For $remote_addr;
          proxy_set_header X-Keyledger-Cost 1;
          proxy_set_header X-Keyledger-Tenant "";
        }
      }`,
    );
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    await nginx?.stop();
    upstream?.close();
    services?.stop();
    await ctx.close();
  });

  it('answers 200, 401 and 403 as the key and its state change', async () => {
    const { keyId, key } = await admin<{ keyId: string; key: string }>('keys.issue', {
      tenant: 'acme',
      owner: 'shop',
      scopes: ['orders:read'],
      ipAllowlist: ['127.0.0.0/8'],
    });
    const ok = await eventually(
      'key accepted through nginx',
      () => get('/orders/1', key),
      (r) => r.status === 200,
    );
    expect(ok.body).toBe(`hello ${keyId} of acme`);
    expect((await get('/orders/1', key, 'X-API-Key')).status).toBe(200);

    expect(await get('/orders/1')).toMatchObject({ status: 401 });
    expect(await get('/orders/1', 'kl_live_notakey')).toMatchObject({ status: 401 });

    const { key: wrongScope } = await admin<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['users:read'] });
    await eventually(
      'scope refused with 403',
      () => get('/orders/1', wrongScope),
      (r) => r.status === 403,
    );
    const { key: wrongIp } = await admin<{ key: string }>('keys.issue', {
      tenant: 'acme',
      owner: 'shop',
      scopes: ['orders:read'],
      ipAllowlist: ['10.0.0.0/8'],
    });
    await eventually(
      'address refused with 403',
      () => get('/orders/1', wrongIp),
      (r) => r.status === 403,
    );

    await admin('keys.suspend', { keyId });
    await eventually(
      'suspended key refused',
      () => get('/orders/1', key),
      (r) => r.status === 401,
    );
    await admin('keys.resume', { keyId });
    await eventually(
      'resumed key accepted',
      () => get('/orders/1', key),
      (r) => r.status === 200,
    );
    await admin('keys.revoke', { keyId, reason: 'done' });
    // The revocation answered after the fence: nginx refuses the key at once.
    expect((await get('/orders/1', key)).status).toBe(401);
  });

  it("does not let a client's forged X-Forwarded-For or X-Real-IP pass a key's IP allowlist", async () => {
    // Only 203.0.113.7 may use the key; the client is 127.0.0.1 and claims to be 203.0.113.7.
    const { key } = await admin<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['orders:read'], ipAllowlist: ['203.0.113.7/32'] });
    const { key: local } = await admin<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['orders:read'], ipAllowlist: ['127.0.0.1/32'] });
    // The same key and header set pass where the allowlist holds the real caller: the refusals below are the allowlist's.
    await eventually(
      'both keys known',
      () => Promise.all([get('/orders/1', local), get('/orders/1', key)]),
      ([ok, refused]) => ok.status === 200 && refused.code === 'FORBIDDEN',
    );
    const forged: Record<string, string>[] = [
      { 'X-Forwarded-For': '203.0.113.7' },
      { 'X-Real-IP': '203.0.113.7' },
      { 'X-Forwarded-For': '203.0.113.7, 203.0.113.7', 'X-Real-IP': '203.0.113.7' },
    ];
    for (const headers of forged) {
      expect(await get('/orders/1', key, 'Authorization', headers)).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      expect(await get('/orders/1', local, 'Authorization', headers)).toMatchObject({ status: 200, code: 'VALID' });
    }
  });

  it("does not let a client's forged X-Keyledger-Cost: 0 spend a quota for free", async () => {
    const { key } = await admin<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['orders:read'], credits: { remaining: 3 } });
    await eventually(
      'key known',
      () => get('/orders/1', key, 'Authorization', { 'X-Keyledger-Cost': '0' }),
      (r) => r.status === 200,
    );
    // Each call costs the credit nginx sets, whatever the client claims: 3 credits, 3 calls.
    expect(await get('/orders/1', key, 'Authorization', { 'X-Keyledger-Cost': '0' })).toMatchObject({ status: 200 });
    expect(await get('/orders/1', key, 'Authorization', { 'X-Keyledger-Cost': '0' })).toMatchObject({ status: 200 });
    // auth_request passes on only 401 and 403: nginx answers the verifier's 429 with a 500.
    expect(await get('/orders/1', key, 'Authorization', { 'X-Keyledger-Cost': '0' })).toMatchObject({ status: 500, code: 'USAGE_EXCEEDED' });
    // A forged tenant header does not reach the verifier either: the key's own tenant answers.
    const { key: other } = await admin<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['orders:read'] });
    await eventually(
      'other key known',
      () => get('/orders/1', other, 'Authorization', { 'X-Keyledger-Tenant': 'globex' }),
      (r) => r.status === 200,
    );
  });
});
