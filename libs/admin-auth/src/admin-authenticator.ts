import { randomUUID } from 'node:crypto';
import { bearerToken } from '@keyledger/api-transport';
import { ApiError, TRACEPARENT_PATTERN } from '@keyledger/contracts';
import type { VerifyCode, VerifyResult } from '@keyledger/contracts';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyIndex, LiveKeyProjection } from '@keyledger/key-projection';
import { verifyKey } from '@keyledger/key-projection';
import type { Caller, CommandContext } from './command-context.js';

export interface AdminAuthenticatorOptions {
  /**
   * The projection that fills the index: while it fails closed (loading, stalled), no admin key
   * is judged; a key it refuses is judged again once it has caught up with the store.
   */
  readonly projection?: Pick<LiveKeyProjection, 'isFailingClosed' | 'caughtUpWithStore'>;
  readonly clock?: () => number;
  /** How long a refused key may wait for the projection to catch up with the store (ms). */
  readonly catchUpTimeoutMs?: number;
}

/**
 * The relay publishes a commit within milliseconds; seconds behind, the projection is in trouble
 * and the caller is better told to retry than kept waiting.
 */
export const DEFAULT_ADMIN_CATCH_UP_TIMEOUT_MS = 2000;

/**
 * The refusals a newer store may overturn: a key issued, resumed or given a later expiry a moment
 * ago. A malformed or revoked key stays refused whatever the store holds, so it costs no wait.
 */
const STORE_MAY_CHANGE: ReadonlySet<VerifyCode> = new Set<VerifyCode>(['NOT_FOUND', 'DISABLED', 'EXPIRED']);

/**
 * The admin plane protects itself with Keyledger keys: a caller presents a key holding
 * `keyledger:keys:read` or `keyledger:keys:write` (or `keyledger:*`; never `*`, see
 * `authorizeAdmin`) and may act on its own tenant, or on every tenant when the key belongs to
 * the root tenant.
 */
export class AdminAuthenticator {
  private readonly projection: AdminAuthenticatorOptions['projection'];
  private readonly clock: () => number;
  private readonly catchUpTimeoutMs: number;

  constructor(
    private readonly index: KeyIndex,
    private readonly hasher: KeyHasher,
    options: AdminAuthenticatorOptions = {},
  ) {
    this.projection = options.projection;
    this.clock = options.clock ?? Date.now;
    this.catchUpTimeoutMs = options.catchUpTimeoutMs ?? DEFAULT_ADMIN_CATCH_UP_TIMEOUT_MS;
  }

  /**
   * Establishes the caller from a presented key; UNAUTHENTICATED unless it is a valid key, and
   * UNAVAILABLE while the projection that holds the keys cannot be trusted to be complete.
   * A key refused by the projection is judged again once the projection has applied everything
   * the store held when the request came: a key issued (or resumed) a moment before, through
   * any issuer, is not refused for having reached the store before this replica.
   */
  async authenticate(presented: string | undefined): Promise<Caller> {
    if (!presented) throw new ApiError('UNAUTHENTICATED', 'an admin key is required (Authorization: Bearer <key>)');
    let result = this.judge(presented);
    if (result.valid || !this.projection || !STORE_MAY_CHANGE.has(result.code)) return callerOf(result);
    if (!(await this.projection.caughtUpWithStore(this.catchUpTimeoutMs)))
      throw new ApiError('UNAVAILABLE', 'admin keys cannot be checked yet: the key projection is behind the store; retry shortly');
    result = this.judge(presented);
    return callerOf(result);
  }

  private judge(presented: string): VerifyResult {
    const now = this.clock();
    // A key missing from a projection still loading is not an invalid key: answering
    // UNAUTHENTICATED would tell the caller to give up on a credential that is fine.
    if (this.projection?.isFailingClosed(now))
      throw new ApiError('UNAVAILABLE', 'admin keys cannot be checked yet: the key projection is loading or behind the store; retry shortly');
    return verifyKey(this.index, this.hasher, presented, {}, now);
  }

  /**
   * The context of an admin command from what a transport received: the bearer key
   * (authenticated here), a correlation id (generated when absent) and a W3C traceparent
   * (kept only when well formed). One place for every transport.
   */
  async commandContext(received: {
    authorization?: string | undefined;
    correlationId?: string | undefined;
    traceparent?: string | undefined;
  }): Promise<CommandContext> {
    const caller = await this.authenticate(bearerToken(received.authorization));
    const traceparent = received.traceparent && TRACEPARENT_PATTERN.test(received.traceparent) ? received.traceparent : undefined;
    return { caller, correlationId: received.correlationId || randomUUID(), traceparent };
  }
}

function callerOf(result: VerifyResult): Caller {
  if (!result.valid || !result.keyId || !result.tenant) throw new ApiError('UNAUTHENTICATED', `the admin key is not valid (${result.code})`);
  return { keyId: result.keyId, tenant: result.tenant, scopes: result.scopes ?? [] };
}
