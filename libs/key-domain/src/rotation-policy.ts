import type { RotationPolicySetData, RotationPolicySettings } from '@keyledger/contracts';
import type { KeyRecord } from './key-record.js';
import { statusAt } from './key-status.js';

/** Rotation policies by tenant and by owner within a tenant, folded from RotationPolicySet events. */
export type RotationPolicyTable = ReadonlyMap<string, RotationPolicySettings>;

const NOT_SET: RotationPolicySettings = Object.freeze({ maxAgeMs: null, graceMs: null, quietPeriodMs: null });

function policyKey(tenant: string, owner: string | undefined): string {
  // A NUL never occurs in a tenant id, so tenant and owner policies cannot collide.
  return owner === undefined ? tenant : `${tenant}\u0000${owner}`;
}

/** Folds one RotationPolicySet: it replaces the policy of its level. */
export function evolveRotationPolicies(table: RotationPolicyTable, data: RotationPolicySetData): RotationPolicyTable {
  const next = new Map(table);
  next.set(policyKey(data.tenant, data.owner), { maxAgeMs: data.maxAgeMs, graceMs: data.graceMs, quietPeriodMs: data.quietPeriodMs ?? null });
  return next;
}

/** The policy set at one level (nothing set: both null). */
export function policyAt(table: RotationPolicyTable, tenant: string, owner?: string): RotationPolicySettings {
  return table.get(policyKey(tenant, owner)) ?? NOT_SET;
}

/** What applies to an owner's keys: each setting of the owner's policy, else the tenant's. */
export function effectivePolicy(table: RotationPolicyTable, tenant: string, owner?: string): RotationPolicySettings {
  const tenantPolicy = policyAt(table, tenant);
  if (owner === undefined) return tenantPolicy;
  const ownerPolicy = policyAt(table, tenant, owner);
  return {
    maxAgeMs: ownerPolicy.maxAgeMs ?? tenantPolicy.maxAgeMs,
    graceMs: ownerPolicy.graceMs ?? tenantPolicy.graceMs,
    quietPeriodMs: ownerPolicy.quietPeriodMs ?? tenantPolicy.quietPeriodMs,
  };
}

/**
 * A delay of 0 to `jitterMs` that depends only on the key id (FNV-1a), so keys issued
 * together fall due spread out, and every rotator replica agrees on when a key is due.
 */
export function rotationJitter(keyId: string, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < keyId.length; i += 1) hash = Math.imul(hash ^ keyId.charCodeAt(i), 0x01000193) >>> 0;
  return hash % (jitterMs + 1);
}

/**
 * When a key issued at `issuedAt` (epoch ms) is due for scheduled rotation under `policy`,
 * or undefined when it never is: no maximum age, or the key is rotated, revoked or expired, or
 * a honeytoken (its replacement would be a real key; it never rotates, `decideKey` refuses it).
 */
export function rotationDueAt(record: KeyRecord, issuedAt: number, policy: RotationPolicySettings, jitterMs: number, now: number): number | undefined {
  if (policy.maxAgeMs === null || record.rotation || record.honeytoken) return undefined;
  const status = statusAt(record.status, record.expiresAt, now);
  if (status === 'revoked' || status === 'expired') return undefined;
  return issuedAt + policy.maxAgeMs + rotationJitter(record.keyId, jitterMs);
}
