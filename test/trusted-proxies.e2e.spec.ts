import { randomBytes } from 'node:crypto';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, startServices } from '@keyledger/testing';

/**
 * A broken or hostile gateway among the verifier's trusted proxies (the test process, on
 * loopback, which the test context trusts): what it asserts about the caller is believed only
 * when it is an IP address; anything else is refused as a bad request, never taken as the caller.
 * (test/edge-guards.e2e.spec.ts attacks the same values from an untrusted peer.)
 */
describe('callers asserted by a trusted proxy', () => {
  let ctx: TestContext;
  let services: RunningServices;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let key: string;
  let port: number;

  const authorize = async (headers: Record<string, string>): Promise<{ status: number; error: string | null; code: string | null; body: string }> => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/authorize`, { headers: { Authorization: `Bearer ${key}`, ...headers } });
    return {
      status: response.status,
      error: response.headers.get('x-keyledger-error'),
      code: response.headers.get('x-keyledger-code'),
      body: await response.text(),
    };
  };

  beforeAll(async () => {
    ctx = await createTestContext('trustedproxies');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, VERIFIER_TRUSTED_PROXIES: '127.0.0.1' });
    port = services.of('verifier')[0]!.httpPort;
    const api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    ({ key } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'gateway', ipAllowlist: ['203.0.113.0/24'] }));
    await eventually(
      'key known to the verifier',
      () => api.verify({ key, ip: '203.0.113.1' }),
      (result) => result.code === 'VALID',
    );
  });

  afterAll(async () => {
    services?.stop();
    await ctx?.close();
  });

  it('believes a trusted proxy’s X-Real-IP and X-Forwarded-For when they are addresses', async () => {
    expect(await authorize({ 'X-Real-IP': '203.0.113.9' })).toMatchObject({ status: 200, code: 'VALID' });
    expect(await authorize({ 'X-Forwarded-For': '203.0.113.9' })).toMatchObject({ status: 200, code: 'VALID' });
    expect(await authorize({ 'X-Real-IP': '198.51.100.1' })).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    // Left of the caller is the client's own writing: never read, so never refused.
    expect(await authorize({ 'X-Forwarded-For': 'garbage, 203.0.113.9' })).toMatchObject({ status: 200, code: 'VALID' });
  });

  it('answers a trusted proxy’s X-Real-IP or X-Forwarded-For that is not an address 400 INVALID_ARGUMENT, believing nothing', async () => {
    for (const headers of <Record<string, string>[]>[
      { 'X-Real-IP': 'unknown' },
      { 'X-Real-IP': '203.0.113.9:443' },
      { 'X-Forwarded-For': '203.0.113.9, unknown' },
      { 'X-Forwarded-For': '203.0.113.256' },
      { 'X-Forwarded-For': `${'9'.repeat(5000)}` },
    ]) {
      const answer = await authorize(headers);
      expect(answer).toMatchObject({ status: 400, error: 'INVALID_ARGUMENT', code: null });
      expect(JSON.parse(answer.body)).toEqual({
        error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^X-(Real-IP|Forwarded-For) from a trusted proxy is not an IP address$/) },
      });
    }
    // The verifier is unharmed and answers the next request.
    expect(await authorize({ 'X-Real-IP': '203.0.113.9' })).toMatchObject({ status: 200, code: 'VALID' });
  });

  it('answers a trusted proxy’s X-Keyledger-Cost that is not a number of credits 400 INVALID_ARGUMENT, charging nothing', async () => {
    for (const cost of ['banana', '-1', '1001', '1.5']) {
      const answer = await authorize({ 'X-Real-IP': '203.0.113.9', 'X-Keyledger-Cost': cost });
      expect(answer).toMatchObject({ status: 400, error: 'INVALID_ARGUMENT', code: null });
      expect(JSON.parse(answer.body)).toEqual({ error: { code: 'INVALID_ARGUMENT', message: 'X-Keyledger-Cost must be a whole number of credits from 0 to 1000' } });
    }
    expect(await authorize({ 'X-Real-IP': '203.0.113.9', 'X-Keyledger-Cost': '0' })).toMatchObject({ status: 200, code: 'VALID' });
  });

  it('charges what a trusted gRPC client asks', async () => {
    const api = natsKeyApi(ctx, rootKey);
    const { key: metered } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'gateway', credits: { remaining: 2 } });
    const grpc = grpcClient(`127.0.0.1:${services.of('verifier')[0]!.grpcPort}`, 'VerifierService');
    try {
      await eventually(
        'key known to the verifier',
        () => grpc.call('Verify', { key: metered, cost: 0 }),
        (result) => (result as { code: string }).code === 'VALID',
      );
      expect(await grpc.call('Verify', { key: metered, cost: 0 })).toMatchObject({ valid: true, remaining: 2 });
      expect(await grpc.call('Verify', { key: metered, cost: 2 })).toMatchObject({ valid: true, remaining: 0 });
      expect(await grpc.call('Verify', { key: metered, cost: 1 })).toMatchObject({ valid: false, code: 'USAGE_EXCEEDED' });
    } finally {
      grpc.close();
    }
  });

  it('believes a trusted gRPC client’s relayed ip when it is an address, and answers MALFORMED when it is not', async () => {
    const grpc = grpcClient(`127.0.0.1:${services.of('verifier')[0]!.grpcPort}`, 'VerifierService');
    try {
      expect(await grpc.call('Verify', { key, ip: '203.0.113.9' })).toMatchObject({ valid: true, code: 'VALID' });
      expect(await grpc.call('Verify', { key, ip: '198.51.100.1' })).toMatchObject({ valid: false, code: 'FORBIDDEN' });
      // Without a relayed ip the caller is the client itself, outside the allowlist.
      expect(await grpc.call('Verify', { key })).toMatchObject({ valid: false, code: 'FORBIDDEN' });
      expect(await grpc.call('Verify', { key, ip: 'not an address' })).toMatchObject({ valid: false, code: 'MALFORMED' });
    } finally {
      grpc.close();
    }
  });
});
