import type {
  AnomalyRuleSubject,
  EffectiveIncidentPolicy,
  IncidentActionReason,
  IncidentPolicyAction,
  KeyIncidentHandledData,
  KeyRotatedData,
  LeakSource,
} from '@keyledger/contracts';
import { anomalyRuleMatches } from '@keyledger/contracts';
import type { KeyRecord } from './key-record.js';
import { statusAt } from './key-status.js';
import { isAdminScope } from './scopes.js';

/**
 * What to do about an incident on a key now. `rotate` with a key whose rotation was
 * interrupted (its replacement never issued) completes that rotation, at its recorded grace.
 */
export type IncidentResponse =
  | { readonly action: 'none' | 'notify'; readonly reason?: IncidentActionReason }
  | { readonly action: 'suspend' }
  | { readonly action: 'rotate'; readonly graceMs: number }
  | { readonly action: 'emergency-rotate' }
  | { readonly action: 'revoke' };

/** The key as an incident finds it. */
export interface IncidentKeyState {
  readonly record: KeyRecord;
  /** For a rotated key: whether its replacement was issued (false: the rotation was interrupted). */
  readonly replacementIssued: boolean;
}

/**
 * An admin key (a scope under `keyledger:`) is never suspended or rotated without a person:
 * nobody would hold its replacement, and the operators could be locked out.
 */
export function isAdminKey(record: Pick<KeyRecord, 'scopes'>): boolean {
  return record.scopes.some(isAdminScope);
}

/** An incident as the policy sees it: a leak, or an anomaly by its detector (none for an operator's report) and severity. */
export type PolicyIncident = { readonly type: 'KeyLeakReported' } | ({ readonly type: 'AnomalyDetected' } & AnomalyRuleSubject);

/**
 * What the policy asks for an incident: `onLeak` for a leak; for an anomaly, the action of the
 * first anomaly rule that matches its detector and severity, else `onAnomaly`.
 */
export function policyActionFor(incident: PolicyIncident, policy: EffectiveIncidentPolicy): IncidentPolicyAction {
  if (incident.type === 'KeyLeakReported') return policy.onLeak;
  return policy.anomalyRules.find((rule) => anomalyRuleMatches(rule, incident))?.action ?? policy.onAnomaly;
}

/**
 * Decides what an incident does to a key, given the effective policy and the key's state at
 * `now` (epoch ms). An interrupted rotation is completed when the policy rotates; otherwise a
 * key that can no longer be used (revoked, expired) is left alone; a key
 * already rotated is not rotated again (an emergency policy revokes it instead, ending its
 * grace); an admin key is only notified; a suspended key is not suspended again, but may be
 * rotated (its replacement is active, as with `keys.rotate`). A honeytoken's incident is always
 * notified, whatever the policy and the key's state, and never acted on: the tenant must hear
 * that someone holds it, and a rotation would turn it into a real key.
 */
export function decideIncidentResponse(incident: PolicyIncident, policy: EffectiveIncidentPolicy, key: IncidentKeyState, now: number): IncidentResponse {
  const asked = policyActionFor(incident, policy);
  const { record } = key;
  if (record.honeytoken) return HONEYTOKEN_RESPONSE;
  // A rotation interrupted between its appends (its replacement never issued) is completed,
  // even when the old key already stopped (an emergency rotation revokes it in its first
  // append, and a short grace may have run out): otherwise the owner is left with no key.
  const interrupted = record.rotation !== undefined && !key.replacementIssued;
  if (interrupted && (asked === 'rotate' || asked === 'emergency-rotate') && !isAdminKey(record))
    return record.rotation.emergency || asked === 'emergency-rotate' ? { action: 'emergency-rotate' } : { action: 'rotate', graceMs: policy.graceMs };
  const status = statusAt(record.status, record.expiresAt, now);
  if (status === 'revoked') return { action: 'none', reason: 'key-revoked' };
  if (status === 'expired') return { action: 'none', reason: 'key-expired' };
  if (asked === 'none' || asked === 'notify') return { action: asked };
  if (isAdminKey(record)) return { action: 'notify', reason: 'admin-key' };
  const rotatedAlready = record.rotation !== undefined && key.replacementIssued;
  switch (asked) {
    case 'suspend':
      return status === 'suspended' ? { action: 'notify', reason: 'already-suspended' } : { action: 'suspend' };
    case 'rotate':
      return rotatedAlready ? { action: 'notify', reason: 'already-rotated' } : { action: 'rotate', graceMs: policy.graceMs };
    case 'emergency-rotate':
      // Already replaced, but still in its grace: the leaked key must stop now.
      return rotatedAlready ? { action: 'revoke' } : { action: 'emergency-rotate' };
    default:
      return asked satisfies never;
  }
}

const HONEYTOKEN_RESPONSE: IncidentResponse = Object.freeze({ action: 'notify', reason: 'honeytoken' });

/**
 * What an incident does instead when its rotation with a grace is refused because the tenant
 * holds its quota of live keys (`checkTenantKeyQuota`): the tenant is told, and the key left as
 * it is. Suspending it instead would break what the policy chose to keep working for a grace,
 * and the incident is recorded rather than retried until it is dead-lettered unheard.
 */
export const ROTATION_REFUSED_FOR_QUOTA: IncidentResponse = Object.freeze({ action: 'notify', reason: 'tenant-key-quota' });

/** A stored event of a key's stream, as far as incidents need it. */
export interface CausedEvent {
  readonly type: string;
  readonly data: unknown;
  /** The event's causation id: an incident's actions name the incident event. */
  readonly causationId: string;
}

/** What an incident's own commands recorded on the key (the events whose causation is the incident). */
export interface IncidentEffects {
  readonly rotation: KeyRotatedData | undefined;
  readonly revoked: boolean;
  readonly suspended: boolean;
}

export function incidentEffects(events: readonly CausedEvent[], incidentId: string): IncidentEffects {
  const caused = events.filter((event) => event.causationId === incidentId);
  return {
    rotation: caused.find((event) => event.type === 'KeyRotated')?.data as KeyRotatedData | undefined,
    revoked: caused.some((event) => event.type === 'KeyRevoked'),
    suspended: caused.some((event) => event.type === 'KeySuspended'),
  };
}

/**
 * The KeyIncidentHandled fields: what the incident did to the key, read from its effects (so a
 * handling interrupted after it rotated the key, and decided again, still records the rotation),
 * else what was decided.
 */
export function incidentOutcome(
  policy: IncidentPolicyAction,
  response: IncidentResponse,
  effects: IncidentEffects,
): Pick<KeyIncidentHandledData, 'policy' | 'action' | 'reason' | 'replacedBy' | 'graceEndsAt'> {
  const rotation = effects.rotation;
  if (rotation)
    return rotation.emergency === true
      ? { policy, action: 'emergency-rotate', replacedBy: rotation.replacedBy }
      : { policy, action: 'rotate', replacedBy: rotation.replacedBy, graceEndsAt: rotation.graceEndsAt };
  if (effects.revoked) return { policy, action: 'revoke' };
  if (effects.suspended) return { policy, action: 'suspend' };
  return { policy, action: response.action, ...('reason' in response && response.reason ? { reason: response.reason } : {}) };
}

/** Whether two leak reports name the same place (every field equal, absent fields alike). */
export function sameLeakSource(a: LeakSource, b: LeakSource): boolean {
  return (
    a.file === b.file &&
    a.line === b.line &&
    a.column === b.column &&
    a.commit === b.commit &&
    a.repository === b.repository &&
    a.url === b.url &&
    a.description === b.description
  );
}
