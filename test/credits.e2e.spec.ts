import { randomBytes } from 'node:crypto';
import type { KeyView, VerifyResult } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { formatNewKey, remainingCredits } from '@keyledger/key-domain';
import { KEY_PROJECTION_CATEGORIES, KeyIndex } from '@keyledger/key-projection';
import type { RunningService, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, startServices, verifiersInStep } from '@keyledger/testing';

interface Outcome {
  readonly status: number;
  readonly code: string | null;
  readonly remaining: number | undefined;
}

/** Quotas enforced by one verifier, then shared by three, over HTTP and NATS; durable across a verifier restart. */
describe('credits across verifiers', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const running: RunningServices[] = [];
  const stopped = new Set<RunningService>();
  let api: ReturnType<typeof natsKeyApi>;
  const verifiers = (): RunningService[] => running.flatMap((services) => services.of('verifier')).filter((verifier) => !stopped.has(verifier));
  const ports = (): number[] => verifiers().map((verifier) => verifier.httpPort);

  const httpVerify = (port: number, key: string, cost?: number): Promise<Outcome> =>
    fetch(`http://127.0.0.1:${port}/v1/authorize`, {
      headers: { Authorization: `Bearer ${key}`, ...(cost === undefined ? {} : { 'X-Keyledger-Cost': String(cost) }) },
    }).then((response) => {
      const remaining = response.headers.get('x-keyledger-remaining');
      return { status: response.status, code: response.headers.get('x-keyledger-code'), remaining: remaining === null ? undefined : Number(remaining) };
    });

  const natsVerify = async (key: string, cost?: number): Promise<Outcome> => {
    const result: VerifyResult = await api.verify({ key, ...(cost === undefined ? {} : { cost }) });
    return { status: result.valid ? 200 : 429, code: result.code, remaining: result.remaining };
  };

  /** Issues a key with a quota, and a plain key after it: once every verifier knows the second, it knows the first. */
  async function issueWithCredits(credits: unknown): Promise<{ key: string; keyId: string }> {
    const issued = await api.ok<{ key: string; keyId: string }>('keys.issue', { tenant: 'acme', owner: 'svc', credits });
    await everyVerifierKnowsNewKeys();
    return issued;
  }

  async function everyVerifierKnowsNewKeys(): Promise<void> {
    const { key: marker } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'svc' });
    for (const port of ports())
      await eventually(
        `key known on ${port}`,
        () => httpVerify(port, marker).then((r) => r.status),
        (s) => s === 200,
      );
  }

  /** Sends `count` verifications of `cost` credits, alternating HTTP (round-robin over the verifiers) and NATS, `concurrency` at a time. */
  async function hammer(key: string, count: number, concurrency: number, cost = 1): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const n = next++;
          const targets = ports();
          outcomes.push(n % 2 === 0 ? await httpVerify(targets[(n / 2) % targets.length]!, key, cost) : await natsVerify(key, cost));
        }
      }),
    );
    return outcomes;
  }

  /** Verifies on every verifier until each answers USAGE_EXCEEDED; returns the uses admitted meanwhile. */
  async function drain(key: string): Promise<number> {
    let admitted = 0;
    for (const port of ports()) {
      await eventually(
        `credits spent on ${port}`,
        async () => {
          const outcome = await httpVerify(port, key);
          if (outcome.status === 200) admitted += 1;
          return outcome.code;
        },
        (code) => code === 'USAGE_EXCEEDED',
      );
    }
    return admitted;
  }

  const remainingOf = async (keyId: string): Promise<number | undefined> => (await api.ok<KeyView>('keys.get', { keyId })).credits?.remaining;

  /** The balance a projection rebuilt from the event store alone gives. */
  async function rebuiltBalance(keyId: string): Promise<number | undefined> {
    const index = new KeyIndex();
    let after = START_OF_LOG;
    for (;;) {
      const events = await ctx.store.readPayloads(after, 1000, KEY_PROJECTION_CATEGORIES).then((page) => page.events);
      if (events.length === 0) break;
      for (const event of events) index.apply(event);
      after = events[events.length - 1]!;
    }
    const credits = index.get(keyId)?.credits;
    return credits && remainingCredits(credits, Date.now());
  }

  beforeAll(async () => {
    ctx = await createTestContext('credits');
    running.push(await startServices(ctx, ['relay', 'issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey }));
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    running.forEach((services) => services.stop());
    await ctx.close();
  });

  it('one verifier admits exactly the credits, charges the cost, and answers USAGE_EXCEEDED with what remains', async () => {
    const { key, keyId } = await issueWithCredits({ remaining: 30 });
    const outcomes = await hammer(key, 50, 4);
    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(30);
    const refused = outcomes.filter((o) => o.status !== 200);
    expect(refused).toHaveLength(20);
    for (const o of refused) expect(o).toEqual({ status: 429, code: 'USAGE_EXCEEDED', remaining: 0 });

    const costly = await issueWithCredits({ remaining: 10 });
    const [port] = ports();
    expect(await httpVerify(port!, costly.key, 3)).toEqual({ status: 200, code: 'VALID', remaining: 7 });
    expect(await natsVerify(costly.key, 3)).toEqual({ status: 200, code: 'VALID', remaining: 4 });
    expect(await httpVerify(port!, costly.key, 3)).toEqual({ status: 200, code: 'VALID', remaining: 1 });
    expect(await natsVerify(costly.key, 3)).toEqual({ status: 429, code: 'USAGE_EXCEEDED', remaining: 1 });
    expect(await httpVerify(port!, costly.key, 1)).toEqual({ status: 200, code: 'VALID', remaining: 0 });
    // A call that costs nothing passes a spent quota; a cost that is not 0-1000 is refused: a bad
    // request from the (trusted) gateway over HTTP, a MALFORMED verification over NATS.
    expect(await httpVerify(port!, costly.key, 0)).toEqual({ status: 200, code: 'VALID', remaining: 0 });
    expect(await httpVerify(port!, costly.key, 1001)).toMatchObject({ status: 400, code: null });
    expect((await natsVerify(costly.key, -1)).code).toBe('MALFORMED');
    // Any answer for a key with a quota says what is left, and only VALID ones are charged.
    await api.ok('keys.suspend', { keyId: costly.keyId });
    await eventually(
      'suspension applied',
      () => natsVerify(costly.key, 5),
      (o) => o.code === 'DISABLED',
    );
    expect(await httpVerify(port!, costly.key, 5)).toEqual({ status: 401, code: 'DISABLED', remaining: 0 });

    // The consumption is flushed to the store: the issuer shows it, and a top-up restores the key.
    await eventually(
      'consumption recorded',
      () => remainingOf(keyId),
      (remaining) => remaining === 0,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(Number(/^keyledger_credits_recorded_total{service="verifier"} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(30);
    expect(metrics).toMatch(/^keyledger_credits_flush_failures_total{service="verifier"} 0$/m);
    const toppedUp = await api.ok<KeyView>('keys.topup', { keyId, amount: 5 });
    expect(toppedUp.credits).toEqual({ remaining: 5, refill: null });
    await eventually(
      'top-up applied',
      () => natsVerify(key, 2),
      (o) => o.code === 'VALID',
    );
    expect(await natsVerify(key, 3)).toMatchObject({ code: 'VALID', remaining: 0 });
    expect(await natsVerify(key, 1)).toMatchObject({ code: 'USAGE_EXCEEDED' });
  });

  it('three verifiers together never overspend; the balance is the same from the issuer, from a rebuild and after a restart', async () => {
    running.push(await startServices(ctx, ['verifier', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey }));
    await verifiersInStep(ports());
    const { key, keyId } = await issueWithCredits({ remaining: 120, refill: { amount: 120, interval: 'daily' } });
    const outcomes = await hammer(key, 300, 12);
    let admitted = outcomes.filter((o) => o.status === 200).length + (await drain(key));
    expect(admitted).toBeLessThanOrEqual(120);
    expect(admitted).toBeGreaterThanOrEqual(110);
    for (const o of outcomes.filter((o) => o.status !== 200)) expect(['USAGE_EXCEEDED', 'RATE_LIMITED']).toContain(o.code);
    expect(outcomes.some((o) => o.code === 'USAGE_EXCEEDED')).toBe(true);

    await eventually(
      'consumption recorded',
      () => remainingOf(keyId),
      (remaining) => remaining === 120 - admitted,
    );
    expect(await rebuiltBalance(keyId)).toBe(120 - admitted);

    // A top-up restores the key on every verifier, and is not overspent either.
    await api.ok('keys.topup', { keyId, amount: 30 });
    await everyVerifierKnowsNewKeys();
    const more = (await hammer(key, 90, 12)).filter((o) => o.status === 200).length + (await drain(key));
    expect(more).toBeLessThanOrEqual(30 + 120 - admitted);
    expect(more).toBeGreaterThan(0);
    admitted += more;
    const balance = 150 - admitted;
    await eventually(
      'top-up consumption recorded',
      () => remainingOf(keyId),
      (remaining) => remaining === balance,
    );

    // A verifier stopped right after admitting credits flushes them on its way out; its successor starts from the same balance.
    const fresh = await issueWithCredits({ remaining: 50 });
    const victim = verifiers()[0]!;
    const used = (await Promise.all(Array.from({ length: 8 }, () => httpVerify(victim.httpPort, fresh.key)))).filter((o) => o.status === 200).length;
    expect(used).toBeGreaterThan(0);
    stopped.add(victim);
    victim.child.kill('SIGTERM');
    await new Promise<void>((resolve) => victim.child.once('exit', () => resolve()));
    await eventually(
      'stopped verifier flushed',
      () => remainingOf(fresh.keyId),
      (remaining) => remaining === 50 - used,
    );
    running.push(await startServices(ctx, ['verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey }));
    const [successor] = running[running.length - 1]!.of('verifier');
    await eventually(
      'successor sees the same balance',
      () => httpVerify(successor!.httpPort, fresh.key, 0),
      (o) => o.code === 'VALID' && o.remaining === 50 - used,
    );
    expect(await remainingOf(keyId)).toBe(balance);
    expect(await rebuiltBalance(fresh.keyId)).toBe(50 - used);
    expect(await rebuiltBalance(keyId)).toBe(balance);
  });
});
