import { randomBytes } from 'node:crypto';
import type { VerifyResult } from '@keyledger/contracts';
import { apiSubject } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, startServices } from '@keyledger/testing';

const FAILED_LIMIT = 50;
const FLOOD_KEYS = 100_000;
const FLOOD_SOURCES = 1000;
const randomKey = (): string => formatNewKey('kl', 'live', (n) => randomBytes(n));

/**
 * Hostile callers at the verifier's edge, on the built services with no proxy in front: an
 * untrusted peer's identity and cost headers are ignored, a source that presents keys naming no
 * key is throttled, and a flood of random keys leaves a bounded number of usage rows.
 * (test/nginx.e2e.spec.ts attacks the same headers through nginx.)
 */
describe('hostile callers at the edge', () => {
  let ctx: TestContext;
  let services: RunningServices;
  const rootKey = randomKey();
  let api: ReturnType<typeof natsKeyApi>;
  let port: number;

  const authorize = async (
    key: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; code: string | null; reason: string | null; retryAfter: string | null }> => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/authorize`, { headers: { Authorization: `Bearer ${key}`, ...headers } });
    return {
      status: response.status,
      code: response.headers.get('x-keyledger-code'),
      reason: response.headers.get('x-keyledger-reason'),
      retryAfter: response.headers.get('retry-after'),
    };
  };
  const verify = (body: Record<string, unknown>): Promise<VerifyResult> => api.verify(body);
  /** Issues a key and waits until the verifier knows it, asking over NATS without an address (never throttled). */
  async function issue(body: Record<string, unknown>): Promise<{ keyId: string; key: string }> {
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'edge', scopes: ['orders:read'], ...body });
    await eventually(
      'key known to the verifier',
      () => verify({ key: issued.key }),
      (result) => result.code !== 'NOT_FOUND',
    );
    return issued;
  }

  beforeAll(async () => {
    ctx = await createTestContext('edgeguards');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'auditor'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      // No proxy: this test process is an ordinary client.
      VERIFIER_TRUSTED_PROXIES: '',
      VERIFIER_FAILED_VERIFY_LIMIT: String(FAILED_LIMIT),
      // Longer than the test: a throttled source stays throttled throughout.
      VERIFIER_FAILED_VERIFY_WINDOW_MS: '3600000',
    });
    port = services.of('verifier')[0]!.httpPort;
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await ctx?.close();
  });

  it('floods 100,000 random keys from 1000 sources: each source is throttled after its limit, and usage storage stays bounded', async () => {
    const subject = apiSubject(ctx.topology.subjectPrefix, 'keys.verify');
    const codes = new Map<string, number>();
    const source = (i: number): string => `198.18.${i >> 8}.${i & 255}`;
    // A few hundred requests in flight at a time, every source's keys spread over the flood.
    const inFlight = 400;
    for (let start = 0; start < FLOOD_KEYS; start += inFlight) {
      const replies = await Promise.all(
        Array.from({ length: Math.min(inFlight, FLOOD_KEYS - start) }, (_, n) =>
          ctx.nc.request(subject, JSON.stringify({ key: randomKey(), ip: source((start + n) % FLOOD_SOURCES) }), { timeout: 30_000 }),
        ),
      );
      for (const reply of replies) {
        const { code } = reply.json<VerifyResult>();
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    // Every source: its first FAILED_LIMIT keys looked up (NOT_FOUND), every later one refused unseen.
    expect(Object.fromEntries(codes)).toEqual({ NOT_FOUND: FLOOD_SOURCES * FAILED_LIMIT, RATE_LIMITED: FLOOD_KEYS - FLOOD_SOURCES * FAILED_LIMIT });

    // The auditor has counted every one of them...
    const counted = async (): Promise<{ calls: number; rows: number; minutes: number; widest: number }> => {
      const [row] = await ctx.ownerDb.query<{ calls: string; rows: string; minutes: string; widest: string | null }[]>(
        `select coalesce(sum(calls), 0) as calls, count(*) as rows, count(distinct minute) as minutes,
                (select max(n) from (select count(*) as n from usage_unknown_minutes where ip <> '*' group by minute, ip) as per_source) as widest
         from usage_unknown_minutes where transport = 'nats'`,
      );
      return { calls: Number(row!.calls), rows: Number(row!.rows), minutes: Number(row!.minutes), widest: Number(row!.widest ?? 0) };
    };
    const stored = await eventually('the flood counted by the auditor', counted, (c) => c.calls >= FLOOD_KEYS, 120_000);
    expect(stored.calls).toBe(FLOOD_KEYS);
    const [rateLimited] = await ctx.ownerDb.query<{ calls: string }[]>(`select sum(calls) as calls from usage_unknown_minutes where code = 'RATE_LIMITED'`);
    expect(Number(rateLimited!.calls)).toBe(FLOOD_KEYS - FLOOD_SOURCES * FAILED_LIMIT);
    // ...in a bounded number of rows: per minute at most 500 sources apart (and the others as '*'),
    // each with at most 5 fingerprints and one row without, per code; never a row per request.
    expect(stored.widest).toBeLessThanOrEqual(2 * 6);
    expect(stored.rows).toBeLessThanOrEqual(stored.minutes * 501 * 6 * 2);
    expect(stored.rows).toBeLessThan(FLOOD_KEYS / 10);
    const [records] = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from usage_records`);
    expect(records!.n).toBe(0);
  });

  it('ignores an untrusted peer’s X-Real-IP and X-Forwarded-For: the caller is the peer', async () => {
    const { key: elsewhere } = await issue({ ipAllowlist: ['203.0.113.7/32'] });
    const { key: here } = await issue({ ipAllowlist: ['127.0.0.1/32'] });
    const forged: Record<string, string>[] = [
      { 'X-Real-IP': '203.0.113.7' },
      { 'X-Forwarded-For': '203.0.113.7' },
      { 'X-Forwarded-For': '10.0.0.1, 203.0.113.7', 'X-Real-IP': '203.0.113.7' },
    ];
    for (const headers of forged) {
      expect(await authorize(elsewhere, headers)).toMatchObject({ status: 403, code: 'FORBIDDEN', reason: 'ip' });
      expect(await authorize(here, headers)).toMatchObject({ status: 200, code: 'VALID', reason: null });
    }
  });

  it('ignores an untrusted peer’s X-Keyledger-Cost: a claimed cost of 0 still pays the default credit', async () => {
    const { key } = await issue({ credits: { remaining: 3 } });
    // issue() asked the verifier once over NATS: one credit gone.
    expect(await authorize(key, { 'X-Keyledger-Cost': '0' })).toMatchObject({ status: 200 });
    expect(await authorize(key, { 'X-Keyledger-Cost': '0' })).toMatchObject({ status: 200 });
    expect(await authorize(key, { 'X-Keyledger-Cost': '0' })).toMatchObject({ status: 429, code: 'USAGE_EXCEEDED' });
    // A cost a trusted proxy could not send (not a number) is ignored too, not answered MALFORMED.
    const { key: other } = await issue({});
    expect(await authorize(other, { 'X-Keyledger-Cost': 'lots' })).toMatchObject({ status: 200, code: 'VALID' });
  });

  it('ignores an untrusted peer’s X-Keyledger-Tenant', async () => {
    const { key } = await issue({});
    expect(await authorize(key, { 'X-Keyledger-Tenant': 'globex' })).toMatchObject({ status: 200, code: 'VALID' });
    // Over NATS the tenant is the caller's to ask, and a key of another tenant is NOT_FOUND.
    expect((await verify({ key, tenant: 'globex' })).code).toBe('NOT_FOUND');
  });

  it('ignores an untrusted gRPC client’s relayed ip: the caller is the client, for the IP allowlist too', async () => {
    const { key: elsewhere } = await issue({ ipAllowlist: ['203.0.113.7/32'] });
    const { key: here } = await issue({ ipAllowlist: ['127.0.0.1/32'] });
    const grpc = grpcClient(`127.0.0.1:${services.of('verifier')[0]!.grpcPort}`, 'VerifierService');
    try {
      expect(await grpc.call('Verify', { key: elsewhere, ip: '203.0.113.7' })).toMatchObject({ valid: false, code: 'FORBIDDEN' });
      expect(await grpc.call('Verify', { key: here, ip: '203.0.113.7' })).toMatchObject({ valid: true, code: 'VALID' });
      // Not checked either: an untrusted client's ip is never read.
      expect(await grpc.call('Verify', { key: here, ip: 'not an address' })).toMatchObject({ valid: true, code: 'VALID' });
    } finally {
      grpc.close();
    }
  });

  it('ignores an untrusted gRPC client’s cost: a claimed cost of 0 still pays the default credit', async () => {
    const { key } = await issue({ credits: { remaining: 3 } });
    const grpc = grpcClient(`127.0.0.1:${services.of('verifier')[0]!.grpcPort}`, 'VerifierService');
    try {
      // issue() asked the verifier once over NATS: one credit gone.
      expect(await grpc.call('Verify', { key, cost: 0 })).toMatchObject({ valid: true, code: 'VALID' });
      expect(await grpc.call('Verify', { key, cost: 0 })).toMatchObject({ valid: true, code: 'VALID' });
      expect(await grpc.call('Verify', { key, cost: 0 })).toMatchObject({ valid: false, code: 'USAGE_EXCEEDED' });
    } finally {
      grpc.close();
    }
  });

  it('throttles an HTTP source that presents keys naming no key, whatever it presents next, and no other source', async () => {
    const { key } = await issue({});
    for (let i = 0; i < FAILED_LIMIT; i += 1) expect(await authorize(randomKey())).toMatchObject({ status: 401, code: 'NOT_FOUND' });
    const refused = await authorize(key);
    expect(refused).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(await authorize('not even a key')).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    // Another source, with the same key: unaffected.
    expect(await verify({ key, ip: '192.0.2.200' })).toMatchObject({ valid: true, code: 'VALID' });
    // A gRPC client is its own source, this same address, refused too: as it is no trusted proxy,
    // relaying another caller's address does not make it that caller.
    const grpc = grpcClient(`127.0.0.1:${services.of('verifier')[0]!.grpcPort}`, 'VerifierService');
    try {
      expect(await grpc.call('Verify', { key })).toMatchObject({ valid: false, code: 'RATE_LIMITED' });
      expect(await grpc.call('Verify', { key, ip: '192.0.2.201' })).toMatchObject({ valid: false, code: 'RATE_LIMITED' });
    } finally {
      grpc.close();
    }
  });
});
