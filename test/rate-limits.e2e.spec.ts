import { randomBytes } from 'node:crypto';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, startServices, verifiersInStep } from '@keyledger/testing';

/** Rate limits enforced by one verifier, then shared by three, over HTTP and NATS. */
describe('rate limits across verifiers', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const running: RunningServices[] = [];
  let api: ReturnType<typeof natsKeyApi>;
  const ports = (): number[] => running.flatMap((services) => services.of('verifier').map((verifier) => verifier.httpPort));

  const httpVerify = (port: number, key: string) =>
    fetch(`http://127.0.0.1:${port}/v1/authorize`, { headers: { Authorization: `Bearer ${key}` } }).then((response) => ({
      status: response.status,
      code: response.headers.get('x-keyledger-code'),
      reset: response.headers.get('x-keyledger-reset'),
      retryAfter: response.headers.get('retry-after'),
    }));

  /** Issues a key with the limit, and an unlimited key after it: once every verifier knows the second, it knows the first. */
  async function issueLimited(limit: number): Promise<string> {
    const { key } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'svc', rateLimits: [{ limit, windowMs: 60_000 }] });
    const { key: marker } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'svc' });
    for (const port of ports())
      await eventually(
        `key known on ${port}`,
        () => httpVerify(port, marker).then((r) => r.status),
        (s) => s === 200,
      );
    return key;
  }

  /** The tests count within one 60 s window: start with at least 25 s of it left. */
  async function awaitFreshWindow(): Promise<void> {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 25_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
  }

  /** Sends `count` verifications, alternating HTTP (round-robin over the verifiers) and NATS, `concurrency` at a time. */
  async function hammer(key: string, count: number, concurrency: number) {
    const outcomes: { status: number; code: string | null; reset: string | null; retryAfter: string | null }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const n = next++;
          const targets = ports();
          if (n % 2 === 0) outcomes.push(await httpVerify(targets[(n / 2) % targets.length]!, key));
          else {
            const result = await api.verify({ key });
            outcomes.push({ status: result.valid ? 200 : 429, code: result.code, reset: result.reset ?? null, retryAfter: null });
          }
        }
      }),
    );
    return outcomes;
  }

  beforeAll(async () => {
    ctx = await createTestContext('ratelimits');
    running.push(await startServices(ctx, ['relay', 'issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey }));
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    running.forEach((services) => services.stop());
    await ctx.close();
  });

  it('one verifier admits exactly the limit, then answers RATE_LIMITED with the window end', async () => {
    await awaitFreshWindow();
    const key = await issueLimited(40);
    const outcomes = await hammer(key, 70, 4);
    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(40);
    const limited = outcomes.filter((o) => o.status !== 200);
    expect(limited).toHaveLength(30);
    expect(new Set(limited.map((o) => o.code))).toEqual(new Set(['RATE_LIMITED']));
    const now = Date.now();
    const windowEnd = now - (now % 60_000) + 60_000;
    for (const o of limited) expect(Date.parse(o.reset!)).toBe(windowEnd);
    for (const o of limited.filter((o) => o.retryAfter !== null)) expect(Number(o.retryAfter)).toBeGreaterThan(0);
  });

  it('three verifiers together never pass the limit and reach at least 95 % of it', async () => {
    running.push(await startServices(ctx, ['verifier', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey }));
    // Shared only once each verifier has heard the others at every tick (a join is outside the bound).
    await verifiersInStep(ports());
    await awaitFreshWindow();
    const key = await issueLimited(150);
    const outcomes = await hammer(key, 450, 12);
    const admitted = outcomes.filter((o) => o.status === 200).length;
    expect(admitted).toBeLessThanOrEqual(150);
    expect(admitted).toBeGreaterThanOrEqual(142);
    expect(outcomes.filter((o) => o.status !== 200).every((o) => o.code === 'RATE_LIMITED')).toBe(true);
  });

  it('keeps a key without limits unlimited, and removes limits with an update', async () => {
    await awaitFreshWindow();
    const key = await issueLimited(3);
    const { keyId } = (await api.verify({ key })) as { keyId: string };
    await api.ok('keys.update', { keyId, rateLimits: [] });
    await eventually(
      'limit lifted everywhere',
      () => Promise.all(ports().map((port) => httpVerify(port, key))),
      (all) => all.every((r) => r.status === 200),
    );
    const outcomes = await hammer(key, 30, 3);
    expect(outcomes.every((o) => o.status === 200)).toBe(true);
  });
});
