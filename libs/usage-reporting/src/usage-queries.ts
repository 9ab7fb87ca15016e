import type {
  KeyUsage,
  KeyUsageRequest,
  LastUsedAnswer,
  LastUsedRequest,
  RotationUsage,
  RotationUsageRequest,
  TenantUsage,
  TenantUsageRequest,
  UsageGranularity,
} from '@keyledger/contracts';
import { ApiError } from '@keyledger/contracts';
import { timeOfPrefixedId } from '@keyledger/ids';
import { effectiveGraceEnd, statusAt } from '@keyledger/key-domain';
import type { Caller } from '@keyledger/admin-auth';
import { authorizeAdmin, seesTenant } from '@keyledger/admin-auth';
import type { KeyIndex } from '@keyledger/key-projection';
import type { UsageLedger, UsageWindow } from '@keyledger/usage-ledger';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The longest window per granularity, so that an answer stays a few thousand buckets at most. */
const MAX_WINDOW: Record<UsageGranularity, number> = { minute: 7 * DAY, hour: 92 * DAY, day: 3660 * DAY };

/** How complete the stored usage is (the auditor's usage consumer: `UsageConsumer.ingestedUntil`). */
export interface UsageWatermark {
  ingestedUntil(): Promise<number | undefined>;
}

const NO_WATERMARK: UsageWatermark = { ingestedUntil: () => Promise.resolve(undefined) };

/**
 * Usage queries for admins: a key's usage needs `keyledger:keys:read` for the key's tenant (a
 * key of a tenant the caller may not see is KEY_NOT_FOUND, as in the key API), a tenant's
 * usage the same scope for that tenant. The key's tenant comes from the auditor's key
 * projection, so a key that was never used still answers (with zero calls).
 */
export class UsageQueries {
  constructor(
    private readonly ledger: Pick<UsageLedger, 'keyUsage' | 'tenantUsage' | 'lastUse' | 'lastUses' | 'sourcesSince'>,
    private readonly keys: Pick<KeyIndex, 'get'>,
    private readonly clock: () => number = Date.now,
    private readonly watermark: UsageWatermark = NO_WATERMARK,
  ) {}

  async keyUsage(request: KeyUsageRequest, caller: Caller): Promise<KeyUsage> {
    const key = this.keys.get(request.keyId);
    if (!key || !seesTenant(caller, key.tenant)) throw new ApiError('KEY_NOT_FOUND', `key ${request.keyId} does not exist`);
    authorizeAdmin(caller, key.tenant, 'read');
    return this.ledger.keyUsage(request.keyId, key.tenant, this.window(request, request.by), request.by);
  }

  async tenantUsage(request: TenantUsageRequest, caller: Caller): Promise<TenantUsage> {
    authorizeAdmin(caller, request.tenant, 'read');
    return this.ledger.tenantUsage(request.tenant, this.window(request, 'day'), request.limit);
  }

  /**
   * The last recorded use of each key and the usage watermark, for the rotator (an internal
   * query, without an admin key). The watermark is read first: every batch below it was stored
   * before the last uses are read, so they include it.
   */
  async lastUsed(request: LastUsedRequest): Promise<LastUsedAnswer> {
    const ingestedUntil = await this.watermark.ingestedUntil();
    const uses = await this.ledger.lastUses(request.keyIds);
    return {
      ingestedUntil: ingestedUntil === undefined ? null : new Date(ingestedUntil).toISOString(),
      keys: request.keyIds.map((keyId) => {
        const at = uses.get(keyId);
        return { keyId, lastUsedAt: at === undefined ? null : new Date(at).toISOString() };
      }),
    };
  }

  /**
   * A rotation and who still uses the old key: given the old key, its rotation; given a key a
   * rotation issued (and that was not rotated itself), the rotation that replaced its predecessor.
   */
  async rotationUsage(request: RotationUsageRequest, caller: Caller): Promise<RotationUsage> {
    const key = this.keys.get(request.keyId);
    if (!key || !seesTenant(caller, key.tenant)) throw new ApiError('KEY_NOT_FOUND', `key ${request.keyId} does not exist`);
    authorizeAdmin(caller, key.tenant, 'read');
    const old = key.rotation ? key : key.rotatedFrom === undefined ? undefined : this.keys.get(key.rotatedFrom);
    const rotation = old?.rotation;
    if (!old || !rotation) throw new ApiError('INVALID_ARGUMENT', `key ${request.keyId} was not rotated and replaces no rotated key`);
    // Rotations recorded before `rotatedAt` existed: the new key's id carries the rotation's time.
    const rotatedAt = rotation.rotatedAt ?? timeOfPrefixedId(rotation.replacedBy);
    const ingestedUntil = await this.watermark.ingestedUntil();
    const [sources, last] = await Promise.all([
      rotatedAt === undefined ? Promise.resolve([]) : this.ledger.sourcesSince(old.keyId, old.tenant, rotatedAt),
      this.ledger.lastUse(old.keyId),
    ]);
    const graceEnded = rotation.graceEnded;
    return {
      keyId: old.keyId,
      replacedBy: rotation.replacedBy,
      tenant: old.tenant,
      owner: old.owner,
      rotatedAt: rotatedAt === undefined ? null : new Date(rotatedAt).toISOString(),
      graceEndsAt: new Date(rotation.graceEndsAt).toISOString(),
      emergency: rotation.emergency,
      quietPeriodMs: rotation.quietPeriodMs ?? null,
      graceEnded: graceEnded
        ? {
            at: new Date(effectiveGraceEnd(rotation)).toISOString(),
            reason: graceEnded.reason,
            lastUsedAt: graceEnded.lastUsedAt === undefined ? null : new Date(graceEnded.lastUsedAt).toISOString(),
          }
        : null,
      status: statusAt(old.status, old.expiresAt, this.clock()),
      expiresAt: old.expiresAt === undefined ? null : new Date(old.expiresAt).toISOString(),
      lastUsedAt: last?.lastUsedAt ?? null,
      sinceRotation: {
        calls: sources.reduce((sum, source) => sum + source.calls, 0),
        invalid: sources.reduce((sum, source) => sum + source.invalid, 0),
        sources,
      },
      ingestedUntil: ingestedUntil === undefined ? null : new Date(ingestedUntil).toISOString(),
    };
  }

  /** [since, until): until defaults to now, since to 24 hours before until. */
  private window(request: { since?: string | undefined; until?: string | undefined }, by: UsageGranularity): UsageWindow {
    const until = request.until === undefined ? this.clock() : Date.parse(request.until);
    const since = request.since === undefined ? until - DAY : Date.parse(request.since);
    if (!(since < until)) throw new ApiError('INVALID_ARGUMENT', 'invalid request: since: must be before until');
    if (until - since > MAX_WINDOW[by])
      throw new ApiError('INVALID_ARGUMENT', `invalid request: since: a window by ${by} spans at most ${MAX_WINDOW[by] / DAY} days`);
    return { since, until };
  }
}
