import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { AnomalyDetectedData, EventEnvelope } from '@keyledger/contracts';
import { streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningService, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, startServices, stopProcesses, waitForExit } from '@keyledger/testing';

/** As in anomaly-detector.e2e: a key is judged after seconds of steady use, not an hour. */
const DETECTOR_ENV = { ANOMALY_RATE_WINDOW_MS: '1000', ANOMALY_RATE_WARMUP_MS: '4000', ANOMALY_RATE_FLOOR: '10' };
const STEADY_MS = 5500;
const STEADY_EVERY_MS = 400;
const SPIKE_CALLS = 60;
/** Long enough for a second replica's finding, suspension or delivery to have landed, had there been one. */
const SETTLE_MS = 4000;

type Role = 'detecting' | 'standby' | 'down';

/**
 * Two anomaly-detector replicas against one installation, as a Deployment of two runs them:
 * one detects and acts, the other stands by and takes over when the first dies. Nothing is
 * found or done twice.
 */
describe('two anomaly-detector replicas', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let replicas: RunningService[];
  let api: NatsKeyApi;

  const roleOf = async (replica: RunningService): Promise<Role> => {
    const body = await fetch(`http://127.0.0.1:${replica.httpPort}/health/ready`)
      .then((response) => response.json() as Promise<{ details?: Record<string, { role?: Role }> }>)
      .catch(() => undefined);
    return body?.details?.['anomaly-detection']?.role ?? 'down';
  };
  const roles = (): Promise<Role[]> => Promise.all(replicas.map(roleOf));

  const eventsOf = async (keyId: string): Promise<EventEnvelope[]> => ctx.store.readStream(streamIdOf('key', keyId));
  const anomaliesOf = async (keyId: string): Promise<AnomalyDetectedData[]> =>
    (await eventsOf(keyId)).filter((event) => event.type === 'AnomalyDetected').map((event) => event.data as AnomalyDetectedData);

  async function issue(): Promise<{ keyId: string; key: string }> {
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'app', scopes: ['orders:read'] });
    await eventually('the verifier knows the key', () => api.verify({ key: issued.key }), (result) => result.valid);
    return issued;
  }

  beforeAll(async () => {
    ctx = await createTestContext('anomalyreplicas');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector', 'anomaly-detector'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      CONSUMER_BACKOFF_MS: '100,500',
      ...DETECTOR_ENV,
    });
    replicas = services.of('anomaly-detector');
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    const set = await runCli(ctx, ['incident-policy', 'set', '--tenant', 'acme', '--on-anomaly', 'suspend'], { adminKey: rootKey });
    expect(set.code).toBe(0);
  });

  afterAll(async () => {
    await stopProcesses((services?.all ?? []).map((service) => service.child));
    await ctx.close();
  }, 60_000);

  it('lets one replica detect while the other stands by', async () => {
    const seen = await eventually('one replica detecting', roles, (list) => list.includes('detecting'), 20_000);
    expect([...seen].sort()).toEqual(['detecting', 'standby']);
  });

  it('finds a spike once and suspends the key once, though two replicas run', async () => {
    const spiked = await issue();
    for (const deadline = Date.now() + STEADY_MS; Date.now() < deadline; await delay(STEADY_EVERY_MS)) {
      expect((await api.verify({ key: spiked.key })).code).toBe('VALID');
    }
    await Promise.all(Array.from({ length: SPIKE_CALLS }, () => api.verify({ key: spiked.key })));
    await eventually('the verifier refuses the suspended key', () => api.verify({ key: spiked.key }), (result) => result.code === 'DISABLED', 20_000);
    await delay(SETTLE_MS);
    const events = await eventsOf(spiked.keyId);
    // The polls that saw DISABLED are the suspended key's use: a dead-key-use finding of their own, once too.
    const kinds = events.filter((event) => event.type === 'AnomalyDetected').map((event) => (event.data as AnomalyDetectedData).kind);
    expect(kinds.filter((kind) => kind === 'usage-spike')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'dead-key-use').length).toBeLessThanOrEqual(1);
    expect(events.filter((event) => event.type === 'KeySuspended')).toHaveLength(1);
  });

  it('hands detection to the standby when the detecting replica is killed, and the new holder finds what follows once', async () => {
    const before = await roles();
    const holder = replicas[before.indexOf('detecting')]!;
    const standby = replicas[before.indexOf('standby')]!;
    const found = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events where type = 'AnomalyDetected'`);
    holder.child.kill('SIGKILL');
    await waitForExit(holder.child);
    await eventually('the standby takes over', () => roleOf(standby), (role) => role === 'detecting', 30_000);

    // A key revoked and still presented: a finding that needs no baseline, made by the new holder alone.
    const dead = await issue();
    await api.ok('keys.revoke', { keyId: dead.keyId, reason: 'retired' });
    await eventually('the verifier refuses the revoked key', () => api.verify({ key: dead.key }), (result) => result.code === 'REVOKED');
    await eventually('the dead key’s use found', () => anomaliesOf(dead.keyId), (list) => list.length > 0, 30_000);
    await delay(SETTLE_MS);
    expect((await anomaliesOf(dead.keyId)).map((anomaly) => anomaly.kind)).toEqual(['dead-key-use']);
    // Nothing found before the kill is found again by the new holder. (A batch delivered to the killed
    // replica and not acknowledged would be delivered again; that findings are named by what they found,
    // so such a batch appends nothing twice, is tested in libs/anomaly-watch.)
    const after = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events where type = 'AnomalyDetected'`);
    expect(after[0]!.n).toBe(found[0]!.n + 1);
  });
});
