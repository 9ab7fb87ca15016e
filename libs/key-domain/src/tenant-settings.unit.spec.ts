import { effectiveIncidentPolicy } from './incident-policy.js';
import { ownerWebhookOf } from './key-delivery.js';
import { ownerPublicKeyOf } from './owner-public-keys.js';
import { effectivePolicy } from './rotation-policy.js';
import type { TenantCommand, TenantSettings } from './tenant-settings.js';
import { decideTenant, evolveTenant, initialTenantSettings } from './tenant-settings.js';

const PUBLIC_KEY = `${'A'.repeat(43)}=`;

function run(commands: readonly TenantCommand[]): TenantSettings {
  return commands.reduce((state, command) => decideTenant(command, state).reduce(evolveTenant, state), initialTenantSettings());
}

describe('tenant settings decider', () => {
  it('records each command as its one event', () => {
    const data = { tenant: 'acme', maxAgeMs: null, graceMs: 60_000 };
    expect(decideTenant({ type: 'SetRotationPolicy', data }, initialTenantSettings())).toEqual([{ type: 'RotationPolicySet', data }]);
  });

  it('folds every kind of tenant event into its own table', () => {
    const state = run([
      { type: 'SetRotationPolicy', data: { tenant: 'acme', maxAgeMs: 86_400_000, graceMs: null } },
      { type: 'SetIncidentPolicy', data: { tenant: 'acme', owner: 'billing', onLeak: 'emergency-rotate', onAnomaly: null, graceMs: null } },
      { type: 'RegisterOwnerPublicKey', data: { tenant: 'acme', owner: 'billing', publicKey: PUBLIC_KEY } },
      {
        type: 'RegisterOwnerWebhook',
        data: { tenant: 'acme', owner: 'billing', url: 'https://hooks.example.com/k', secretId: 'whk_01jf0000000000000000000000' },
      },
    ]);
    expect(effectivePolicy(state.rotationPolicies, 'acme', 'billing').maxAgeMs).toBe(86_400_000);
    expect(effectiveIncidentPolicy(state.incidentPolicies, 'acme', 'billing').onLeak).toBe('emergency-rotate');
    expect(ownerPublicKeyOf(state.ownerPublicKeys, 'billing')).toBe(PUBLIC_KEY);
    expect(ownerWebhookOf(state.ownerWebhooks, 'billing')?.url).toBe('https://hooks.example.com/k');
  });

  it('keeps the anomaly thresholds a tenant set last, whole: one left out of the later setting is no longer set', () => {
    const none = initialTenantSettings().anomalyThresholds;
    expect(Object.values(none).every((value) => value === null)).toBe(true);
    const state = run([
      { type: 'SetAnomalyThresholds', data: { tenant: 'acme', thresholds: { ...none, rateFloor: 4, cooldownMs: 60_000 } } },
      { type: 'SetAnomalyThresholds', data: { tenant: 'acme', thresholds: { ...none, probingFloor: 5 } } },
    ]);
    expect(state.anomalyThresholds).toEqual({ ...none, probingFloor: 5 });
  });

  it("keeps the tenant's latest notification webhook, and none once removed", () => {
    const url = 'https://hooks.example.com/notify';
    const set = run([
      { type: 'SetNotificationWebhook', data: { tenant: 'acme', url: 'https://old.example.com/n', secretId: 'whk_01jf0000000000000000000001' } },
      { type: 'SetNotificationWebhook', data: { tenant: 'acme', url, secretId: 'whk_01jf0000000000000000000002' } },
    ]);
    expect(set.notificationWebhook).toEqual({ url, secretId: 'whk_01jf0000000000000000000002' });
    expect(ownerWebhookOf(set.ownerWebhooks, 'acme')).toBeUndefined();
    const removed = evolveTenant(set, { type: 'NotificationWebhookSet', data: { tenant: 'acme', url: null, secretId: null } });
    expect(removed.notificationWebhook).toBeUndefined();
  });

  it('lets a later setting of one level replace the earlier one, and leaves the state it folds unchanged', () => {
    const first = run([{ type: 'RegisterOwnerPublicKey', data: { tenant: 'acme', owner: 'billing', publicKey: PUBLIC_KEY } }]);
    const replaced = `${'B'.repeat(43)}=`;
    const next = evolveTenant(first, { type: 'OwnerPublicKeyRegistered', data: { tenant: 'acme', owner: 'billing', publicKey: replaced } });
    expect(ownerPublicKeyOf(next.ownerPublicKeys, 'billing')).toBe(replaced);
    expect(ownerPublicKeyOf(first.ownerPublicKeys, 'billing')).toBe(PUBLIC_KEY);
  });
});
