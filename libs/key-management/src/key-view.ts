import type { KeyView } from '@keyledger/contracts';
import type { KeyRecord } from '@keyledger/key-domain';
import { statusAt } from '@keyledger/key-domain';

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
    version: record.version,
  };
}
