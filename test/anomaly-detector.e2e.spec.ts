import { randomBytes } from 'node:crypto';
import type { AnomalyDetectedData, EventEnvelope, KeyIncidentHandledData } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES, streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningService, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, serviceOutput, startServices, stopProcesses, waitForExit } from '@keyledger/testing';

/**
 * Thresholds shortened so a key is judged after seconds, not an hour: a 1 s window, 4 s of
 * warm-up and a floor of 10 calls. Everything else is the detectors' defaults (a cool-down
 * of an hour, so each detector reports once per key here).
 */
const DETECTOR_ENV = { ANOMALY_RATE_WINDOW_MS: '1000', ANOMALY_RATE_WARMUP_MS: '4000', ANOMALY_RATE_FLOOR: '10' };
const STEADY_MS = 5500;
const STEADY_EVERY_MS = 400;
const SPIKE_CALLS = 60;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The anomaly detector against real services on real NATS and Postgres: the producer of
 * AnomalyDetected here is the detector, fed by the verifier's usage records (and one operator's
 * report); the rotator acts on it by the tenant's incident policy.
 */
describe('the anomaly detector, end to end', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let detector: RunningService;
  let api: NatsKeyApi;
  /** Warmed up with the spiked key, spiked only after the detector's restart. */
  let later: { keyId: string; key: string };

  const anomalies = async (keyId: string): Promise<AnomalyDetectedData[]> =>
    (await ctx.store.readStream(streamIdOf('key', keyId)))
      .filter((event: EventEnvelope) => event.type === 'AnomalyDetected')
      .map((event) => event.data as AnomalyDetectedData);

  const anomalyOf = async (keyId: string, kind: AnomalyDetectedData['kind'], timeoutMs = 20_000): Promise<AnomalyDetectedData> => {
    const found = await eventually(
      `${kind} on ${keyId}`,
      () => anomalies(keyId),
      (list) => list.some((anomaly) => anomaly.kind === kind),
      timeoutMs,
    );
    return found.find((anomaly) => anomaly.kind === kind)!;
  };

  /** What the rotator recorded about a key's first incident, once it has. */
  const handlingOf = async (keyId: string): Promise<KeyIncidentHandledData> => {
    const handled = (events: EventEnvelope[]) => events.find((event) => event.type === 'KeyIncidentHandled')?.data as KeyIncidentHandledData | undefined;
    return handled(
      await eventually(
        `the incident on ${keyId} handled`,
        () => ctx.store.readStream(streamIdOf('key', keyId)),
        (events) => handled(events) !== undefined,
        20_000,
      ),
    )!;
  };

  async function issue(tenant: string): Promise<{ keyId: string; key: string }> {
    const issued = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant, owner: 'app', scopes: ['orders:read'] });
    await eventually(
      'the verifier knows the key',
      () => api.verify({ key: issued.key }),
      (result) => result.valid,
    );
    return issued;
  }

  /** Calls in parallel: one window holds them all. */
  const spike = (key: string): Promise<unknown> => Promise.all(Array.from({ length: SPIKE_CALLS }, () => api.verify({ key })));

  beforeAll(async () => {
    ctx = await createTestContext('anomaly');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      CONSUMER_BACKOFF_MS: '100,500',
      ...DETECTOR_ENV,
    });
    detector = services.of('anomaly-detector')[0]!;
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    // Every process gone before the schema is dropped, which would otherwise wait on their sessions.
    await stopProcesses([...(services?.all ?? []), ...(detector ? [detector] : [])].map((service) => service.child));
    await ctx.close();
  }, 60_000);

  it('suspends a key whose rate spikes above its own steady baseline, by the tenant’s rule for high findings: the verifier answers DISABLED', async () => {
    const policy = (...rules: string[]) =>
      runCli(ctx, ['incident-policy', 'set', '--tenant', 'acme', '--on-anomaly', 'none', ...rules.flatMap((rule) => ['--anomaly-rule', rule]), '--json'], {
        adminKey: rootKey,
      });
    // The first match wins: a rule after a wider one would never be reached, and is refused with the policy unchanged.
    const shadowed = await policy('medium=notify', 'high=suspend');
    expect(shadowed.code).not.toBe(0);
    expect(shadowed.stderr).toContain('anomaly rule 2 is never reached: rule 1 matches every finding it does');
    const unknown = await policy('guessing:high=suspend');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown detector "guessing": one of rate-spike, /);
    const unchanged = await runCli(ctx, ['incident-policy', 'get', '--tenant', 'acme', '--json'], { adminKey: rootKey });
    expect(JSON.parse(unchanged.stdout)).toMatchObject({ policy: { onAnomaly: null, anomalyRules: null } });
    const set = await policy('high=suspend', 'medium=notify');
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({
      policy: {
        onAnomaly: 'none',
        anomalyRules: [
          { minSeverity: 'high', action: 'suspend' },
          { minSeverity: 'medium', action: 'notify' },
        ],
      },
    });
    const spiked = await issue('acme');
    later = await issue('acme');
    // A steady low rate, past the warm-up, teaches both keys their baseline.
    for (const deadline = Date.now() + STEADY_MS; Date.now() < deadline; await sleep(STEADY_EVERY_MS)) {
      const answers = await Promise.all([api.verify({ key: spiked.key }), api.verify({ key: later.key })]);
      expect(answers.map((answer) => answer.code)).toEqual(['VALID', 'VALID']);
    }
    expect(await anomalies(spiked.keyId)).toEqual([]);

    await spike(spiked.key);
    const anomaly = await anomalyOf(spiked.keyId, 'usage-spike');
    expect(anomaly).toMatchObject({ keyId: spiked.keyId, tenant: 'acme', severity: expect.stringMatching(/^(high|critical)$/) });
    expect(anomaly.detail).toMatch(/^rate-spike: \d+ calls in 1 s against [\d.]+ usual/);
    expect(anomaly.detector).toBe('rate-spike');
    await eventually(
      'the verifier refuses the suspended key',
      () => api.verify({ key: spiked.key }),
      (result) => result.code === 'DISABLED',
      20_000,
    );
    expect(await handlingOf(spiked.keyId)).toMatchObject({ policy: 'suspend', action: 'suspend' });
    // The other key kept its steady rate: nothing about it.
    expect(await anomalies(later.keyId)).toEqual([]);

    // A medium finding (reported by hand: the same rules, the same rotator) is only notified: the key keeps working.
    const medium = await issue('acme');
    const reported = await runCli(ctx, ['keys', 'report-anomaly', medium.keyId, '--kind', 'error-rate', '--severity', 'medium', '--json'], {
      adminKey: rootKey,
    });
    expect(JSON.parse(reported.stdout)).toMatchObject({ outcome: 'REPORTED', pendingAction: 'notify' });
    expect(await handlingOf(medium.keyId)).toMatchObject({ policy: 'notify', action: 'notify' });
    expect(await api.verify({ key: medium.key })).toMatchObject({ valid: true, code: 'VALID' });
  });

  it('reports the use of a revoked key (someone still holds it)', async () => {
    const dead = await issue('globex');
    await api.ok('keys.revoke', { keyId: dead.keyId, reason: 'retired' });
    await eventually(
      'the verifier refuses the revoked key',
      () => api.verify({ key: dead.key }),
      (result) => result.code === 'REVOKED',
    );
    const anomaly = await anomalyOf(dead.keyId, 'dead-key-use');
    expect(anomaly).toMatchObject({ keyId: dead.keyId, tenant: 'globex', severity: 'high' });
    expect(anomaly.detail).toMatch(/^dead-key-use: a revoked key was presented/);
    expect((await anomalies(dead.keyId)).filter((found) => found.kind === 'dead-key-use')).toHaveLength(1);
  });

  it('keeps its baselines across a restart and does not alert again on the traffic it already learned, even when it is delivered again', async () => {
    const before = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events where type = 'AnomalyDetected'`);
    detector.child.kill('SIGTERM');
    await waitForExit(detector.child);
    // A new consumer is delivered the whole usage stream again: the traffic already learned.
    await ctx.jsm.consumers.delete(ctx.topology.usageStream, DURABLE_CONSUMER_NAMES.anomalyUsage);
    detector = (await startServices(ctx, ['anomaly-detector'], DETECTOR_ENV)).all[0]!;
    await eventually(
      'the old usage delivered again and acked',
      () => ctx.jsm.consumers.info(ctx.topology.usageStream, DURABLE_CONSUMER_NAMES.anomalyUsage).catch(() => undefined),
      (info) => info !== undefined && info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0,
      20_000,
    );
    expect(serviceOutput(detector.child)).not.toContain('anomaly detected');
    const after = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events where type = 'AnomalyDetected'`);
    expect(after[0]!.n).toBe(before[0]!.n);

    // Its baseline learned before the restart: a fresh key would still be warming up, and say nothing.
    await spike(later.key);
    const anomaly = await anomalyOf(later.keyId, 'usage-spike');
    expect(anomaly).toMatchObject({ keyId: later.keyId, tenant: 'acme' });
    // Logged once the event is stored: the log line may follow the event by a moment.
    await eventually(
      'the finding logged',
      () => Promise.resolve(serviceOutput(detector.child)),
      (output) => output.includes('anomaly detected'),
    );
  });
});
