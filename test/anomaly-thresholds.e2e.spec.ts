import { randomBytes } from 'node:crypto';
import type { AnomalyDetectedData, AnomalyThresholdsView, EventEnvelope, KeyView } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES, NO_ANOMALY_THRESHOLDS, streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, serviceOutput, startServices, stopProcesses } from '@keyledger/testing';

const REFUSED_CALLS = 2;

/**
 * A tenant's own anomaly thresholds against real services on real NATS and Postgres: its admin
 * sets them with the CLI, the issuer records them on the tenant's stream, and the anomaly
 * detector judges that tenant's keys by them while another tenant's keep the installation's.
 */
describe('anomaly thresholds per tenant, end to end', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let api: NatsKeyApi;

  const anomalies = async (keyId: string): Promise<AnomalyDetectedData[]> =>
    (await ctx.store.readStream(streamIdOf('key', keyId)))
      .filter((event: EventEnvelope) => event.type === 'AnomalyDetected')
      .map((event) => event.data as AnomalyDetectedData);

  async function issue(tenant: string, scopes = ['orders:read']): Promise<{ keyId: string; key: string }> {
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant, owner: 'app', scopes });
    await eventually(
      'the verifier knows the key',
      () => api.verify({ key: issued.key }),
      (result) => result.valid,
    );
    return issued;
  }

  const cli = (args: string[], adminKey = rootKey): ReturnType<typeof runCli> => runCli(ctx, args, { adminKey });

  beforeAll(async () => {
    ctx = await createTestContext('anomaly-thresholds');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'anomaly-detector'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      CONSUMER_BACKOFF_MS: '100,500',
    });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    await stopProcesses((services?.all ?? []).map((service) => service.child));
    await ctx.close();
  }, 60_000);

  it('finds probing on the key of a tenant that lowered its floor, and not on another tenant’s key with the defaults', async () => {
    const acmeAdmin = await issue('acme', ['keyledger:*']);
    await eventually(
      'the issuer knows the acme admin key',
      () => api.ok<{ keys: KeyView[] }>('keys.list', { tenant: 'acme' }),
      (list) => list.keys.some((key) => key.keyId === acmeAdmin.keyId),
    );
    const set = await cli(['anomalies', 'thresholds', 'set', '--tenant', 'acme', '--probing-floor', '2', '--cooldown', '10m', '--json'], acmeAdmin.key);
    expect(set).toMatchObject({ code: 0 });
    expect(JSON.parse(set.stdout)).toEqual({ tenant: 'acme', thresholds: { ...NO_ANOMALY_THRESHOLDS, probingFloor: 2, cooldownMs: 600_000 } });
    const acme = await issue('acme');
    const globex = await issue('globex');
    // The detector reads the thresholds at its next lock check (every 2 s).
    await eventually(
      'the detector applied the thresholds',
      () => Promise.resolve(serviceOutput(services.of('anomaly-detector')[0]!.child)),
      (output) => output.includes('tenant anomaly thresholds applied'),
    );

    // The same calls refused for a scope on both keys: 2 of them are acme's line; the defaults' are 3 (slow) and 20.
    for (let i = 0; i < REFUSED_CALLS; i++) {
      const answers = await Promise.all([globex, acme].map((key) => api.verify({ key: key.key, scopes: ['users:write'] })));
      expect(answers.map((answer) => answer.code)).toEqual(['INSUFFICIENT_PERMISSIONS', 'INSUFFICIENT_PERMISSIONS']);
    }
    const found = await eventually(
      'probing found on the acme key',
      () => anomalies(acme.keyId),
      (list) => list.length > 0,
      20_000,
    );
    expect(found).toEqual([expect.objectContaining({ keyId: acme.keyId, tenant: 'acme', kind: 'error-rate', severity: 'high' })]);
    // Every batch learned from: globex's calls were judged, by the default floor, and found nothing.
    await eventually(
      'the usage consumed',
      () => ctx.jsm.consumers.info(ctx.topology.usageStream, DURABLE_CONSUMER_NAMES.anomalyUsage),
      (info) => info.num_pending === 0 && info.num_ack_pending === 0,
      20_000,
    );
    expect(await anomalies(globex.keyId)).toEqual([]);
  });

  it('refuses thresholds out of bounds and another tenant’s admin, and changes nothing', async () => {
    const before = await ctx.store.readStream(streamIdOf('tenant', 'acme'));
    const tooShort = await cli(['anomalies', 'thresholds', 'set', '--tenant', 'acme', '--cooldown', '1s']);
    expect(tooShort.code).not.toBe(0);
    expect(tooShort.stderr).toContain('thresholds.cooldownMs');
    const notANumber = await cli(['anomalies', 'thresholds', 'set', '--tenant', 'acme', '--rate-floor', 'many']);
    expect(notANumber.code).not.toBe(0);
    expect(notANumber.stderr).toContain('expected a whole number');
    expect((await api.call('anomaly-thresholds.set', { tenant: 'acme', thresholds: { rateFloor: 0, offHours: 3 } })).error?.code).toBe('INVALID_ARGUMENT');

    const globexAdmin = await issue('globex', ['keyledger:*']);
    await eventually(
      'the issuer knows the globex admin key',
      () => api.ok<{ keys: KeyView[] }>('keys.list', { tenant: 'globex' }),
      (list) => list.keys.some((key) => key.keyId === globexAdmin.keyId),
    );
    expect((await api.call('anomaly-thresholds.set', { tenant: 'acme', thresholds: { rateFloor: 1 } }, globexAdmin.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('anomaly-thresholds.get', { tenant: 'acme' }, globexAdmin.key)).error?.code).toBe('PERMISSION_DENIED');

    expect(await ctx.store.readStream(streamIdOf('tenant', 'acme'))).toEqual(before);
    const get = await cli(['anomalies', 'thresholds', 'get', '--tenant', 'acme', '--json']);
    expect((JSON.parse(get.stdout) as AnomalyThresholdsView).thresholds).toEqual({ ...NO_ANOMALY_THRESHOLDS, probingFloor: 2, cooldownMs: 600_000 });
  });
});
