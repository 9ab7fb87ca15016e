import type { KeyView } from '@keyledger/contracts';
import type { KeyRecord } from '@keyledger/key-domain';
import { remainingCredits, statusAt } from '@keyledger/key-domain';

/** A key as the API shows it at `now`: its status as of then, and never its digest. */
export function toKeyView(record: KeyRecord, now: number): KeyView {
  return {
    keyId: record.keyId,
    tenant: record.tenant,
    owner: record.owner,
    name: record.name ?? null,
    environment: record.environment,
    hint: record.hint,
    status: statusAt(record.status, record.expiresAt, now),
    scopes: record.scopes,
    ipAllowlist: record.ipAllowlist,
    expiresAt: record.expiresAt === undefined ? null : new Date(record.expiresAt).toISOString(),
    metadata: record.metadata,
    rateLimits: record.rateLimits,
    credits: record.credits ? { remaining: remainingCredits(record.credits, now), refill: record.credits.refill ?? null } : null,
    rotatedFrom: record.rotatedFrom ?? null,
    rotation: record.rotation
      ? { replacedBy: record.rotation.replacedBy, graceEndsAt: new Date(record.rotation.graceEndsAt).toISOString(), emergency: record.rotation.emergency }
      : null,
    leakReportedAt: record.leakReportedAt === undefined ? null : new Date(record.leakReportedAt).toISOString(),
    honeytoken: record.honeytoken === true,
    version: record.version,
  };
}
