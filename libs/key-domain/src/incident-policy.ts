import type { EffectiveIncidentPolicy, IncidentPolicySetData, IncidentPolicySettings } from '@keyledger/contracts';
import { DEFAULT_INCIDENT_GRACE_MS, DEFAULT_NETWORK_DENIAL_MS } from '@keyledger/contracts';

/** Incident policies by tenant and by owner within a tenant, folded from IncidentPolicySet events. */
export type IncidentPolicyTable = ReadonlyMap<string, IncidentPolicySettings>;

const NOT_SET: IncidentPolicySettings = Object.freeze({
  onLeak: null,
  onAnomaly: null,
  graceMs: null,
  onEnumeration: null,
  denyForMs: null,
  anomalyRules: null,
});

/**
 * What applies where nothing is set. A leak is rotated with a short grace: a leaked key must
 * stop working without waiting for a person, and an owner whose client follows deliveries
 * switches within seconds; suspending or revoking at once would break every owner that does
 * not. An anomaly is only notified: detection is statistical, and acting on a false positive
 * would break a healthy service. An enumeration is only notified too: a denied network may be a
 * shared NAT or proxy in front of healthy callers; a tenant that knows its callers opts in.
 */
export const DEFAULT_INCIDENT_POLICY: EffectiveIncidentPolicy = Object.freeze({
  onLeak: 'rotate',
  onAnomaly: 'notify',
  graceMs: DEFAULT_INCIDENT_GRACE_MS,
  onEnumeration: 'notify',
  denyForMs: DEFAULT_NETWORK_DENIAL_MS,
  anomalyRules: [],
});

function policyKey(tenant: string, owner: string | undefined): string {
  // A NUL never occurs in a tenant id, so tenant and owner policies cannot collide.
  return owner === undefined ? tenant : `${tenant}\u0000${owner}`;
}

/** Folds one IncidentPolicySet: it replaces the policy of its level. */
export function evolveIncidentPolicies(table: IncidentPolicyTable, data: IncidentPolicySetData): IncidentPolicyTable {
  const next = new Map(table);
  next.set(policyKey(data.tenant, data.owner), {
    onLeak: data.onLeak,
    onAnomaly: data.onAnomaly,
    graceMs: data.graceMs,
    onEnumeration: data.onEnumeration ?? null,
    denyForMs: data.denyForMs ?? null,
    anomalyRules: data.anomalyRules ?? null,
  });
  return next;
}

/** The incident policy set at one level (nothing set: all null). */
export function incidentPolicyAt(table: IncidentPolicyTable, tenant: string, owner?: string): IncidentPolicySettings {
  return table.get(policyKey(tenant, owner)) ?? NOT_SET;
}

/**
 * What applies to an owner's keys: each setting of the owner's policy, else the tenant's, else
 * the default (the network settings: the tenant's, else the default). The anomaly rules are
 * taken as a whole list, never merged: an owner's list (an empty one too) replaces the tenant's,
 * since rules are read in order and a merged order would be nobody's.
 */
export function effectiveIncidentPolicy(table: IncidentPolicyTable, tenant: string, owner?: string): EffectiveIncidentPolicy {
  const tenantPolicy = incidentPolicyAt(table, tenant);
  const ownerPolicy = owner === undefined ? NOT_SET : incidentPolicyAt(table, tenant, owner);
  return {
    onLeak: ownerPolicy.onLeak ?? tenantPolicy.onLeak ?? DEFAULT_INCIDENT_POLICY.onLeak,
    onAnomaly: ownerPolicy.onAnomaly ?? tenantPolicy.onAnomaly ?? DEFAULT_INCIDENT_POLICY.onAnomaly,
    graceMs: ownerPolicy.graceMs ?? tenantPolicy.graceMs ?? DEFAULT_INCIDENT_POLICY.graceMs,
    onEnumeration: tenantPolicy.onEnumeration ?? DEFAULT_INCIDENT_POLICY.onEnumeration,
    denyForMs: tenantPolicy.denyForMs ?? DEFAULT_INCIDENT_POLICY.denyForMs,
    anomalyRules: ownerPolicy.anomalyRules ?? tenantPolicy.anomalyRules ?? DEFAULT_INCIDENT_POLICY.anomalyRules,
  };
}
