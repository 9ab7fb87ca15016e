import { DEFAULT_INCIDENT_GRACE_MS } from '@keyledger/contracts';
import type { IncidentPolicyTable } from './incident-policy.js';
import { DEFAULT_INCIDENT_POLICY, effectiveIncidentPolicy, evolveIncidentPolicies, incidentPolicyAt } from './incident-policy.js';

describe('incident policies', () => {
  const table: IncidentPolicyTable = [
    { tenant: 'acme', onLeak: 'emergency-rotate' as const, onAnomaly: null, graceMs: 600_000 },
    { tenant: 'acme', owner: 'batch', onLeak: null, onAnomaly: 'suspend' as const, graceMs: null },
    { tenant: 'acme', owner: 'legacy', onLeak: 'notify' as const, onAnomaly: 'none' as const, graceMs: 0 },
  ].reduce<IncidentPolicyTable>(evolveIncidentPolicies, new Map());

  const NETWORK = { onEnumeration: 'notify', denyForMs: 3_600_000, anomalyRules: [] } as const;
  const UNSET = { onEnumeration: null, denyForMs: null, anomalyRules: null } as const;

  it('rotates leaks with a 1 h grace and notifies anomalies and enumerations where nothing is set', () => {
    expect(DEFAULT_INCIDENT_POLICY).toEqual({ onLeak: 'rotate', onAnomaly: 'notify', graceMs: DEFAULT_INCIDENT_GRACE_MS, ...NETWORK });
    expect(DEFAULT_INCIDENT_GRACE_MS).toBe(3_600_000);
    expect(effectiveIncidentPolicy(table, 'globex', 'batch')).toEqual(DEFAULT_INCIDENT_POLICY);
    expect(effectiveIncidentPolicy(new Map(), 'acme')).toEqual(DEFAULT_INCIDENT_POLICY);
  });

  it('lets an owner override each setting of its tenant, the tenant each default, and nothing else', () => {
    expect(effectiveIncidentPolicy(table, 'acme')).toEqual({ onLeak: 'emergency-rotate', onAnomaly: 'notify', graceMs: 600_000, ...NETWORK });
    expect(effectiveIncidentPolicy(table, 'acme', 'batch')).toEqual({ onLeak: 'emergency-rotate', onAnomaly: 'suspend', graceMs: 600_000, ...NETWORK });
    // A grace of 0 is a setting, not an absence.
    expect(effectiveIncidentPolicy(table, 'acme', 'legacy')).toEqual({ onLeak: 'notify', onAnomaly: 'none', graceMs: 0, ...NETWORK });
    expect(effectiveIncidentPolicy(table, 'acme', 'someone')).toEqual(effectiveIncidentPolicy(table, 'acme'));
    expect(incidentPolicyAt(table, 'acme', 'batch')).toEqual({ onLeak: null, onAnomaly: 'suspend', graceMs: null, ...UNSET });
    expect(incidentPolicyAt(table, 'acme', 'someone')).toEqual({ onLeak: null, onAnomaly: null, graceMs: null, ...UNSET });
  });

  it('takes the enumeration settings from the tenant alone, an event from before them reading as not set', () => {
    const denying = evolveIncidentPolicies(table, { tenant: 'acme', onLeak: null, onAnomaly: null, graceMs: null, onEnumeration: 'deny', denyForMs: 600_000 });
    expect(effectiveIncidentPolicy(denying, 'acme', 'batch')).toMatchObject({ onEnumeration: 'deny', denyForMs: 600_000 });
    expect(incidentPolicyAt(table, 'acme')).toMatchObject(UNSET);
  });

  it('takes the owner’s anomaly rules as a whole, else the tenant’s, an event from before them reading as not set', () => {
    const high = { minSeverity: 'high', action: 'suspend' } as const;
    const probing = { detector: 'probing', action: 'rotate' } as const;
    const ruled = [
      { tenant: 'acme', onLeak: null, onAnomaly: null, graceMs: null, anomalyRules: [high] },
      { tenant: 'acme', owner: 'batch', onLeak: null, onAnomaly: 'none' as const, graceMs: null, anomalyRules: [probing] },
      { tenant: 'acme', owner: 'legacy', onLeak: null, onAnomaly: null, graceMs: null, anomalyRules: [] },
    ].reduce<IncidentPolicyTable>(evolveIncidentPolicies, table);
    expect(effectiveIncidentPolicy(ruled, 'acme').anomalyRules).toEqual([high]);
    expect(effectiveIncidentPolicy(ruled, 'acme', 'someone').anomalyRules).toEqual([high]);
    expect(effectiveIncidentPolicy(ruled, 'acme', 'batch').anomalyRules).toEqual([probing]);
    // An empty list is set: the owner's keys answer by onAnomaly alone.
    expect(effectiveIncidentPolicy(ruled, 'acme', 'legacy').anomalyRules).toEqual([]);
    expect(incidentPolicyAt(table, 'acme', 'batch').anomalyRules).toBeNull();
  });

  it('replaces a level’s policy with the newest one set, leaving the other levels', () => {
    const next = evolveIncidentPolicies(table, { tenant: 'acme', onLeak: null, onAnomaly: null, graceMs: null });
    expect(effectiveIncidentPolicy(next, 'acme')).toEqual(DEFAULT_INCIDENT_POLICY);
    expect(effectiveIncidentPolicy(next, 'acme', 'batch')).toEqual({ ...DEFAULT_INCIDENT_POLICY, onAnomaly: 'suspend' });
    expect(table.size).toBe(3);
  });
});
