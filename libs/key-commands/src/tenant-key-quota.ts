import { checkTenantKeyQuota } from '@keyledger/key-domain';
import type { KeyIndex } from '@keyledger/key-projection';

/** A key this process is adding, or added and its projection has not applied yet. */
interface PendingKey {
  added?: AddedKey;
}

/** Where a key that took a slot was recorded: the projection counts it once it holds this version of the key. */
export interface AddedKey {
  readonly keyId: string;
  readonly version: number;
}

/**
 * Holds each tenant to at most `quota` live keys (`takesQuotaSlot`), so that no tenant can fill
 * every verifier's memory. It counts from the process's key projection, plus the keys this
 * process is adding or has added that the projection does not hold yet; the check and the
 * reservation of a slot happen in one synchronous step, so commands within one process never
 * overshoot, however many run at once.
 *
 * Across processes (issuer replicas, rotators) nothing is shared: each may admit a key another
 * is adding at the same moment, so a tenant may overshoot by the keys added elsewhere and not
 * yet applied to this projection: normally the commands in flight in other processes and the
 * relay's latency behind them (milliseconds), and the next command counts them. While the relay
 * or the bus is down no projection learns of other processes' keys, but each process still
 * counts its own, so P processes admit at most P times the quota: a tenant stays bounded. Exact
 * enforcement would need every issue of a tenant to append to one stream of the tenant,
 * serialising its issues and making each revocation and expiry a second write; neither is worth
 * a bound of a few keys.
 */
export class TenantKeyQuota {
  private readonly pending = new Map<string, Set<PendingKey>>();

  constructor(
    private readonly index: Pick<KeyIndex, 'get' | 'unrevokedKeyCount' | 'liveKeyCount'>,
    /** Live keys a tenant may hold. */
    readonly quota: number,
  ) {}

  /**
   * Runs `add`, which adds `adding` live keys to the tenant (0 or 1: a key issued, or an expired
   * one brought back) and answers which key and version took the slot, if the tenant has room:
   * else TENANT_KEY_QUOTA_EXCEEDED and `add` never runs.
   */
  async admit<T>(tenant: string, adding: 0 | 1, now: number, add: () => Promise<T>, addedKeyOf: (added: T) => AddedKey): Promise<T> {
    if (adding === 0) return add();
    const pending = this.pendingOf(tenant);
    // Unrevoked keys are a bound known at once; expired ones are counted out only near the quota.
    if (this.index.unrevokedKeyCount(tenant) + pending.size + adding > this.quota)
      checkTenantKeyQuota(tenant, this.index.liveKeyCount(tenant, now) + pending.size, adding, this.quota);
    const key: PendingKey = {};
    pending.add(key);
    try {
      const added = await add();
      key.added = addedKeyOf(added);
      return added;
    } catch (error) {
      // Nothing added, or (a commit whose answer was lost) something the projection will count when it applies it.
      pending.delete(key);
      throw error;
    }
  }

  /** The tenant's keys in flight, without those the projection holds by now. */
  private pendingOf(tenant: string): Set<PendingKey> {
    let pending = this.pending.get(tenant);
    if (!pending) this.pending.set(tenant, (pending = new Set()));
    // A key brought back is held already, expired: it is counted once the projection has its new version.
    for (const key of pending) if (key.added && (this.index.get(key.added.keyId)?.version ?? 0) >= key.added.version) pending.delete(key);
    return pending;
  }
}
