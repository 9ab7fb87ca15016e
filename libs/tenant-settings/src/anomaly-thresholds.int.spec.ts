import type { AnomalyThresholds } from '@keyledger/contracts';
import { NO_ANOMALY_THRESHOLDS, ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import type { AnomalyFinding } from '@keyledger/anomaly-detection';
import { AnomalyDetector, DEFAULT_ANOMALY_SETTINGS } from '@keyledger/anomaly-detection';
import { TenantThresholdsFeed } from '@keyledger/anomaly-watch';
import type { CommandContext } from '@keyledger/admin-auth';
import type { TestContext } from '@keyledger/testing';
import { createTestContext } from '@keyledger/testing';
import { TenantSettingsCommands } from './tenant-settings-commands.js';

const T0 = Date.UTC(2025, 0, 6);
const ACME_KEY = 'key_01jqaaaaaaaaaaaaaaaaaaaaaa';
const GLOBEX_KEY = 'key_01jqbbbbbbbbbbbbbbbbbbbbbb';

const adminOf = (tenant: string): CommandContext => ({ caller: { keyId: `key_${tenant}`, tenant, scopes: ['keyledger:*'] }, correlationId: 'test' });
const root = adminOf(ROOT_TENANT);
const thresholds = (set: Partial<AnomalyThresholds>): AnomalyThresholds => ({ ...NO_ANOMALY_THRESHOLDS, ...set });

/** Two calls of each tenant's key refused for a scope, a second apart: under the slow probing line (three). */
function probe(detector: AnomalyDetector): AnomalyFinding[] {
  const findings: AnomalyFinding[] = [];
  for (let i = 0; i < 2; i++)
    for (const [keyId, tenant] of [
      [GLOBEX_KEY, 'globex'],
      [ACME_KEY, 'acme'],
    ] as const)
      detector.observe({ at: T0 + i * 1000, keyId, tenant, ip: '198.51.100.7', code: 'INSUFFICIENT_PERMISSIONS', calls: 1 }, findings);
  return findings;
}

describe('anomaly thresholds of a tenant', () => {
  let ctx: TestContext;
  let tenants: TenantSettingsCommands;

  beforeAll(async () => {
    ctx = await createTestContext('anomaly-thresholds');
    tenants = new TenantSettingsCommands({ store: ctx.store });
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('are set by the tenant’s admin or a root admin, and reach the detector, which judges only that tenant’s keys by them', async () => {
    const set = await tenants.setAnomalyThresholds({ tenant: 'acme', thresholds: thresholds({ probingFloor: 2, cooldownMs: 600_000 }) }, adminOf('acme'));
    expect(set).toEqual({ tenant: 'acme', thresholds: thresholds({ probingFloor: 2, cooldownMs: 600_000 }) });
    expect(await tenants.getAnomalyThresholds({ tenant: 'acme' }, root.caller)).toEqual(set);
    await tenants.setAnomalyThresholds({ tenant: 'initech', thresholds: thresholds({ rateFloor: 100 }) }, root);

    const detector = new AnomalyDetector(() => T0 + 60_000);
    const feed = new TenantThresholdsFeed(ctx.store, detector);
    expect(await feed.catchUp()).toBe(2);
    expect(detector.settingsOf('acme').probing.floor).toBe(2);
    expect(detector.settingsOf('initech').rate.floor).toBe(100);
    expect(detector.settingsOf('globex')).toBe(DEFAULT_ANOMALY_SETTINGS);
    expect(probe(detector).map((finding) => finding.subject)).toEqual([{ kind: 'key', keyId: ACME_KEY, tenant: 'acme' }]);

    // Only what was set since: acme back to the installation's.
    await tenants.setAnomalyThresholds({ tenant: 'acme', thresholds: NO_ANOMALY_THRESHOLDS }, adminOf('acme'));
    expect(await feed.catchUp()).toBe(1);
    expect(detector.settingsOf('acme')).toBe(DEFAULT_ANOMALY_SETTINGS);
    expect(await feed.catchUp()).toBe(0);
  });

  it('are refused to another tenant’s admin and out of bounds, and nothing is recorded', async () => {
    const stream = streamIdOf('tenant', 'umbrella');
    await tenants.setAnomalyThresholds({ tenant: 'umbrella', thresholds: thresholds({ rateFloor: 40 }) }, root);
    const before = await ctx.store.readStream(stream);

    await expect(tenants.setAnomalyThresholds({ tenant: 'umbrella', thresholds: thresholds({ rateFloor: 2 }) }, adminOf('globex'))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    await expect(tenants.getAnomalyThresholds({ tenant: 'umbrella' }, adminOf('globex').caller)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    // Past the request's schema (a caller in this process): the store checks the event's data too.
    await expect(tenants.setAnomalyThresholds({ tenant: 'umbrella', thresholds: thresholds({ cooldownMs: 1000 }) }, root)).rejects.toThrow(
      /AnomalyThresholdsSet data/,
    );

    expect(await ctx.store.readStream(stream)).toEqual(before);
    expect((await tenants.getAnomalyThresholds({ tenant: 'umbrella' }, root.caller)).thresholds).toEqual(thresholds({ rateFloor: 40 }));
  });
});
