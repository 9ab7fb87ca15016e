import { randomBytes } from 'node:crypto';
import type { ApiErrorBody, KeyUsage, VerifyBatchResult } from '@keyledger/contracts';
import { MAX_VERIFY_BATCH, apiSubject } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, startServices } from '@keyledger/testing';

type BatchReply = { ok: true; result: VerifyBatchResult } | ({ ok: false } & ApiErrorBody);

/**
 * `keys.verify-batch` on the built services and a real NATS: many verifications in one call,
 * answered in order, each verified, limited and recorded as usage exactly like `keys.verify`;
 * a bad item answered MALFORMED in its place, a bad batch refused whole with nothing verified.
 */
describe('verify batch over NATS', () => {
  let ctx: TestContext;
  const services: RunningServices[] = [];
  const adminKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  const batch = async (body: string | object): Promise<BatchReply> =>
    (
      await ctx.nc.request(apiSubject(ctx.topology.subjectPrefix, 'keys.verify-batch'), typeof body === 'string' ? body : JSON.stringify(body), {
        timeout: 10_000,
      })
    ).json<BatchReply>();
  const results = async (requests: readonly unknown[]): Promise<VerifyBatchResult['results']> => {
    const reply = await batch({ requests });
    if (!reply.ok) throw new Error(`keys.verify-batch failed: ${reply.error.code}: ${reply.error.message}`);
    return reply.result.results;
  };
  /** Issues a key and waits until the verifier knows it. */
  const issue = async (settings: object = {}): Promise<{ keyId: string; key: string }> => {
    const api = natsKeyApi(ctx, adminKey);
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'batch', scopes: ['orders:read'], ...settings });
    // A marker issued after it: once the marker verifies, the key under test has been applied too, and was never used.
    const marker = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'marker' });
    await eventually(
      'key verifiable',
      async () => (await api.verify({ key: marker.key })).code,
      (code) => code === 'VALID',
    );
    return issued;
  };
  const usageOf = async (keyId: string): Promise<KeyUsage> => {
    const run = await runCli(ctx, ['usage', keyId, '--json', '--since', '1h'], { adminKey });
    if (run.code !== 0) throw new Error(`keyledger usage failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as KeyUsage;
  };

  beforeAll(async () => {
    ctx = await createTestContext('verifybatch');
    // One at a time: each gets its own time to become ready on a busy machine.
    for (const name of ['relay', 'issuer', 'verifier', 'auditor']) {
      services.push(await startServices(ctx, [name], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: adminKey, USAGE_FLUSH_INTERVAL_MS: '50' }));
    }
    await natsKeyApi(ctx, adminKey).adminKeyAccepted();
  }, 300_000);

  afterAll(async () => {
    services.forEach((running) => running.stop());
    await ctx.close();
  });

  it('answers every request in order, a bad item MALFORMED in its place, and records each verification as usage', async () => {
    const issued = await issue();
    const unknown = formatNewKey('kl', 'live', (n) => randomBytes(n));
    const answered = await results([
      { key: issued.key, scopes: ['orders:read'], ip: '10.0.0.1' },
      { key: issued.key, env: 'test' },
      { key: 42 },
      { key: unknown, tenant: 'acme' },
      { key: issued.key, scopes: ['orders:write'] },
      { key: issued.key, surprise: true },
      'not a request',
      { key: issued.key },
    ]);
    expect(answered.map((result) => result.code)).toEqual([
      'VALID',
      'FORBIDDEN',
      'MALFORMED',
      'NOT_FOUND',
      'INSUFFICIENT_PERMISSIONS',
      'MALFORMED',
      'MALFORMED',
      'VALID',
    ]);
    expect(answered[0]).toMatchObject({ valid: true, keyId: issued.keyId, tenant: 'acme', owner: 'batch', scopes: ['orders:read'] });
    expect(answered[1]).toMatchObject({ valid: false, keyId: issued.keyId, reason: 'environment' });
    expect(answered[2]).toEqual({ valid: false, code: 'MALFORMED' });
    // The same answers single calls give.
    const api = natsKeyApi(ctx, adminKey);
    expect(await api.verify({ key: issued.key, env: 'test' })).toEqual(answered[1]);
    expect(await api.verify({ key: 42 })).toEqual(answered[2]);

    // Four verifications of the key in the batch, one single call: five records, the malformed items none.
    const usage = await eventually(
      'usage stored',
      () => usageOf(issued.keyId),
      (u) => u.totals.calls >= 5,
      30_000,
    );
    expect(usage.totals).toEqual({ calls: 5, valid: 2, invalid: 3, cost: 0 });
    expect(usage.topSources).toEqual(expect.arrayContaining([{ ip: '10.0.0.1', calls: 1, invalid: 0 }]));
  });

  it('enforces a rate limit on each item, as on single calls', async () => {
    const { key } = await issue({ rateLimits: [{ limit: 3, windowMs: 60_000 }] });
    const answered = await results(Array.from({ length: 5 }, () => ({ key })));
    expect(answered.map((result) => result.code)).toEqual(['VALID', 'VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED']);
    expect(answered[4]!.reset).toEqual(expect.any(String));
    expect((await natsKeyApi(ctx, adminKey).verify({ key })).code).toBe('RATE_LIMITED');
  });

  it('answers a batch whose answer NATS cannot carry with INVALID_ARGUMENT, and goes on answering', async () => {
    // 32 metadata entries of 500 characters: about 17 KB a result, 1.7 MB for 100 of them.
    const metadata = Object.fromEntries(Array.from({ length: 32 }, (_, n) => [`field-${n}`, 'x'.repeat(500)]));
    const { key } = await issue({ metadata });
    expect(ctx.nc.info!.max_payload).toBeLessThan(1_600_000);
    const reply = await batch({ requests: Array.from({ length: MAX_VERIFY_BATCH }, () => ({ key })) });
    expect(reply).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('verify fewer keys at once') } });
    // The verifier's connection still reads: a reply it could not send did not end it.
    expect((await results([{ key }]))[0]!.code).toBe('VALID');
    expect((await natsKeyApi(ctx, adminKey).verify({ key })).code).toBe('VALID');
  });

  it('refuses a batch that is not one, or holds more than the most allowed, as a whole and verifies nothing', async () => {
    const issued = await issue();
    const item = { key: issued.key };
    const refusals: [string | object, RegExp][] = [
      ['{"requests": [', /not JSON/],
      [{}, /requests: is required/],
      [[item], /\(body\): must be a object, not a list/],
      [{ requests: item }, /requests: must be a list, not an object/],
      [{ requests: [] }, /requests: must list at least one item/],
      [{ requests: [item], extra: 1 }, /unknown field "extra"/],
      [{ requests: Array.from({ length: MAX_VERIFY_BATCH + 1 }, () => item) }, new RegExp(`requests: must be at most ${MAX_VERIFY_BATCH} items`)],
    ];
    for (const [body, message] of refusals) {
      const reply = await batch(body);
      expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) }) });
    }
    // The largest batch allowed is answered; none of the refused ones was recorded.
    const most = await results(Array.from({ length: MAX_VERIFY_BATCH }, () => item));
    expect(most).toHaveLength(MAX_VERIFY_BATCH);
    expect(new Set(most.map((result) => result.code))).toEqual(new Set(['VALID']));
    const usage = await eventually(
      'usage stored',
      () => usageOf(issued.keyId),
      (u) => u.totals.calls >= MAX_VERIFY_BATCH,
      30_000,
    );
    expect(usage.totals.calls).toBe(MAX_VERIFY_BATCH);
  });
});
