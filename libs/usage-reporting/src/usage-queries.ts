import type { KeyUsage, KeyUsageRequest, TenantUsage, TenantUsageRequest, UsageGranularity } from '@keyledger/contracts';
import { ApiError } from '@keyledger/contracts';
import type { Caller } from '@keyledger/key-management';
import { authorizeAdmin, seesTenant } from '@keyledger/key-management';
import type { KeyIndex } from '@keyledger/key-projection';
import type { UsageLedger, UsageWindow } from '@keyledger/usage-ledger';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The longest window per granularity, so that an answer stays a few thousand buckets at most. */
const MAX_WINDOW: Record<UsageGranularity, number> = { minute: 7 * DAY, hour: 92 * DAY, day: 3660 * DAY };

/**
 * Usage queries for admins: a key's usage needs `keyledger:keys:read` for the key's tenant (a
 * key of a tenant the caller may not see is KEY_NOT_FOUND, as in the key API), a tenant's
 * usage the same scope for that tenant. The key's tenant comes from the auditor's key
 * projection, so a key that was never used still answers (with zero calls).
 */
export class UsageQueries {
  constructor(
    private readonly ledger: Pick<UsageLedger, 'keyUsage' | 'tenantUsage'>,
    private readonly keys: Pick<KeyIndex, 'get'>,
    private readonly clock: () => number = Date.now,
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
