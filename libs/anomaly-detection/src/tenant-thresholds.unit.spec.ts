import type { AnomalyThresholds } from '@keyledger/contracts';
import { NO_ANOMALY_THRESHOLDS, anomalyThresholdsSchema, setAnomalyThresholdsRequestSchema } from '@keyledger/contracts';
import type { AnomalyFinding, UsageObservation } from './anomaly-detector.js';
import { AnomalyDetector } from './anomaly-detector.js';
import { DEFAULT_ANOMALY_SETTINGS, settingsForTenant, thresholdsOf } from './anomaly-settings.js';
import { parseKeyBaseline } from './key-baseline.js';

const T0 = Date.UTC(2025, 0, 6, 0, 0, 0);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const ACME_KEY = 'key_01jqaaaaaaaaaaaaaaaaaaaaaa';
const GLOBEX_KEY = 'key_01jqbbbbbbbbbbbbbbbbbbbbbb';

const thresholds = (set: Partial<AnomalyThresholds>): AnomalyThresholds => ({ ...NO_ANOMALY_THRESHOLDS, ...set });

function refused(keyId: string, tenant: string, at: number): UsageObservation {
  return { at, keyId, tenant, ip: '198.51.100.7', code: 'INSUFFICIENT_PERMISSIONS', calls: 1 };
}

/** Two refused calls of each tenant's key, a second apart: under the slow probing line (three), so only the burst's floor judges them. */
function probe(detector: AnomalyDetector, from: number): AnomalyFinding[] {
  const findings: AnomalyFinding[] = [];
  for (let i = 0; i < 2; i++) {
    detector.observe(refused(GLOBEX_KEY, 'globex', from + i * SECOND), findings);
    detector.observe(refused(ACME_KEY, 'acme', from + i * SECOND), findings);
  }
  return findings;
}

describe('settingsForTenant', () => {
  it('puts each threshold the tenant set in place of the installation’s, and keeps the rest', () => {
    const installation = { ...DEFAULT_ANOMALY_SETTINGS, cooldownMs: 5 * MINUTE };
    const tenant = settingsForTenant(installation, thresholds({ rateFloor: 3, probingFloor: 4, dormantAfterMs: 86_400_000 }));
    expect(thresholdsOf(tenant)).toEqual({ ...thresholdsOf(installation), rateFloor: 3, probingFloor: 4, dormantAfterMs: 86_400_000 });
    expect(tenant.enumeration).toBe(installation.enumeration);
    expect(tenant.rate.deviations).toBe(installation.rate.deviations);
    expect(settingsForTenant(installation, NO_ANOMALY_THRESHOLDS)).toEqual(installation);
  });

  it('reads back every threshold it sets', () => {
    const set = {
      rateWindowMs: 2000,
      rateWarmupMs: 0,
      rateFloor: 2,
      networkLearnMs: 0,
      networkMinCalls: 0,
      probingFloor: 1,
      dormantAfterMs: 3_600_000,
      cooldownMs: 60_000,
    };
    expect(thresholdsOf(settingsForTenant(DEFAULT_ANOMALY_SETTINGS, set))).toEqual(set);
  });
});

describe('anomaly thresholds as a tenant sets them', () => {
  it('refuses values out of bounds, fractions and unknown thresholds', () => {
    for (const bad of [
      { cooldownMs: 1000 },
      { rateWindowMs: 10 },
      { rateFloor: 0 },
      { probingFloor: 2.5 },
      { dormantAfterMs: -1 },
      { rateWindowMs: 7_200_000 },
      { offHours: 3 },
    ])
      expect(setAnomalyThresholdsRequestSchema.safeParse({ tenant: 'acme', thresholds: bad }).success).toBe(false);
    expect(anomalyThresholdsSchema.safeParse({ ...NO_ANOMALY_THRESHOLDS, rateFloor: '4' }).success).toBe(false);
  });

  it('fills the thresholds left out with null (the installation’s)', () => {
    expect(setAnomalyThresholdsRequestSchema.parse({ tenant: 'acme', thresholds: { rateFloor: 4 } })).toEqual({
      tenant: 'acme',
      thresholds: thresholds({ rateFloor: 4 }),
    });
    expect(setAnomalyThresholdsRequestSchema.parse({ tenant: 'acme' }).thresholds).toEqual(NO_ANOMALY_THRESHOLDS);
  });
});

describe('the detector with a tenant’s thresholds', () => {
  it('judges a tenant’s keys by its lowered threshold, and another tenant’s by the installation’s', () => {
    const detector = new AnomalyDetector(() => T0 + MINUTE);
    detector.setTenantThresholds('acme', thresholds({ probingFloor: 2 }));
    const findings = probe(detector, T0);
    expect(findings.map((finding) => [finding.detector, finding.subject])).toEqual([['probing', { kind: 'key', keyId: ACME_KEY, tenant: 'acme' }]]);
    expect(detector.settingsOf('acme').probing.floor).toBe(2);
    expect(detector.settingsOf('globex')).toBe(DEFAULT_ANOMALY_SETTINGS);
  });

  it('goes back to the installation’s thresholds when the tenant sets none', () => {
    const detector = new AnomalyDetector(() => T0 + 10 * MINUTE);
    detector.setTenantThresholds('acme', thresholds({ probingFloor: 2 }));
    detector.setTenantThresholds('acme', NO_ANOMALY_THRESHOLDS);
    expect(probe(detector, T0)).toEqual([]);
    expect(detector.settingsOf('acme')).toBe(DEFAULT_ANOMALY_SETTINGS);
  });

  it('applies the tenant’s cool-down to its keys', () => {
    const detector = new AnomalyDetector(() => T0 + 10 * MINUTE);
    detector.setTenantThresholds('acme', thresholds({ probingFloor: 1, cooldownMs: MINUTE }));
    const findings: AnomalyFinding[] = [];
    for (let i = 0; i < 150; i++) detector.observe(refused(ACME_KEY, 'acme', T0 + i * SECOND), findings);
    // One per minute of refused calls: at 0 s, 60 s and 120 s.
    expect(findings.map((finding) => finding.at - T0)).toEqual([0, 60 * SECOND, 120 * SECOND]);
  });

  it('shortens the cool-downs already running when the tenant lowers its cool-down, and keeps a stored end where no start was kept', () => {
    const detector = new AnomalyDetector(() => T0 + 10 * MINUTE);
    detector.setTenantThresholds('acme', thresholds({ probingFloor: 1, cooldownMs: 60 * MINUTE }));
    const findings: AnomalyFinding[] = [];
    detector.observe(refused(ACME_KEY, 'acme', T0), findings);
    detector.observe(refused(ACME_KEY, 'acme', T0 + 2 * MINUTE), findings);
    expect(findings.map((finding) => finding.at - T0)).toEqual([0]);
    detector.setTenantThresholds('acme', thresholds({ probingFloor: 1, cooldownMs: MINUTE }));
    detector.observe(refused(ACME_KEY, 'acme', T0 + 3 * MINUTE), findings);
    // Three minutes after the finding that began an hour's cool-down, now a minute's: over.
    expect(findings.map((finding) => finding.at - T0)).toEqual([0, 3 * MINUTE]);

    const stored = JSON.parse(JSON.stringify(detector.baseline(ACME_KEY))) as Record<string, unknown>;
    delete stored['quietSince'];
    stored['quietUntil'] = { probing: T0 + 60 * MINUTE };
    const kept = new AnomalyDetector(() => T0 + 10 * MINUTE);
    kept.setTenantThresholds('acme', thresholds({ probingFloor: 1, cooldownMs: MINUTE }));
    kept.restore(ACME_KEY, parseKeyBaseline(stored));
    const later: AnomalyFinding[] = [];
    kept.observe(refused(ACME_KEY, 'acme', T0 + 5 * MINUTE), later);
    expect(later).toEqual([]);
    expect(kept.baseline(ACME_KEY)?.quietSince).toEqual({});
  });

  it('does not lengthen the cool-downs already running when the tenant raises its cool-down', () => {
    const detector = new AnomalyDetector(() => T0 + 10 * MINUTE);
    detector.setTenantThresholds('acme', thresholds({ probingFloor: 1, cooldownMs: MINUTE }));
    const findings: AnomalyFinding[] = [];
    detector.observe(refused(ACME_KEY, 'acme', T0), findings);
    detector.setTenantThresholds('acme', thresholds({ probingFloor: 1, cooldownMs: 60 * MINUTE }));
    detector.observe(refused(ACME_KEY, 'acme', T0 + 2 * MINUTE), findings);
    // The minute's cool-down set by the first finding had ended; the hour's applies from the second.
    detector.observe(refused(ACME_KEY, 'acme', T0 + 5 * MINUTE), findings);
    expect(findings.map((finding) => finding.at - T0)).toEqual([0, 2 * MINUTE]);
  });

  it('learns a key’s rate afresh when its tenant changes the window, keeping its networks', () => {
    const detector = new AnomalyDetector(() => T0 + MINUTE);
    const findings: AnomalyFinding[] = [];
    for (let i = 0; i < 20; i++)
      detector.observe({ at: T0 + i * SECOND, keyId: ACME_KEY, tenant: 'acme', ip: '198.51.100.7', code: 'VALID', calls: 1 }, findings);
    expect(detector.baseline(ACME_KEY)).toMatchObject({ rateWindowMs: 5000, learned: 3, mean: 5, networks: ['198.51.100.0/24'] });
    detector.setTenantThresholds('acme', thresholds({ rateWindowMs: 2000 }));
    detector.observe({ at: T0 + 21 * SECOND, keyId: ACME_KEY, tenant: 'acme', ip: '198.51.100.7', code: 'VALID', calls: 1 }, findings);
    // The one window learned since is the empty one before the call, in the new window's terms.
    expect(detector.baseline(ACME_KEY)).toMatchObject({ rateWindowMs: 2000, learned: 1, mean: 0, networks: ['198.51.100.0/24'] });
  });
});
