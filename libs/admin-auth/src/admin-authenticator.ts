import { randomUUID } from 'node:crypto';
import { bearerToken } from '@keyledger/api-transport';
import { ApiError, TRACEPARENT_PATTERN } from '@keyledger/contracts';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyIndex, LiveKeyProjection } from '@keyledger/key-projection';
import { verifyKey } from '@keyledger/key-projection';
import type { Caller, CommandContext } from './command-context.js';

export interface AdminAuthenticatorOptions {
  /** The projection that fills the index: while it fails closed (loading, stalled), no admin key is judged. */
  readonly projection?: Pick<LiveKeyProjection, 'isFailingClosed'>;
  readonly clock?: () => number;
}

/**
 * The admin plane protects itself with Keyledger keys: a caller presents a key holding
 * `keyledger:keys:read` or `keyledger:keys:write` (or `keyledger:*`; never `*`, see
 * `authorizeAdmin`) and may act on its own tenant, or on every tenant when the key belongs to
 * the root tenant.
 */
export class AdminAuthenticator {
  private readonly projection: AdminAuthenticatorOptions['projection'];
  private readonly clock: () => number;

  constructor(
    private readonly index: KeyIndex,
    private readonly hasher: KeyHasher,
    options: AdminAuthenticatorOptions = {},
  ) {
    this.projection = options.projection;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Establishes the caller from a presented key; UNAUTHENTICATED unless it is a valid key, and
   * UNAVAILABLE while the projection that holds the keys cannot be trusted to be complete.
   */
  authenticate(presented: string | undefined): Caller {
    if (!presented) throw new ApiError('UNAUTHENTICATED', 'an admin key is required (Authorization: Bearer <key>)');
    const now = this.clock();
    // A key missing from a projection still loading is not an invalid key: answering
    // UNAUTHENTICATED would tell the caller to give up on a credential that is fine.
    if (this.projection?.isFailingClosed(now))
      throw new ApiError('UNAVAILABLE', 'admin keys cannot be checked yet: the key projection is loading or behind the store; retry shortly');
    const result = verifyKey(this.index, this.hasher, presented, {}, now);
    if (!result.valid || !result.keyId || !result.tenant) throw new ApiError('UNAUTHENTICATED', `the admin key is not valid (${result.code})`);
    return { keyId: result.keyId, tenant: result.tenant, scopes: result.scopes ?? [] };
  }

  /**
   * The context of an admin command from what a transport received: the bearer key
   * (authenticated here), a correlation id (generated when absent) and a W3C traceparent
   * (kept only when well formed). One place for every transport.
   */
  commandContext(received: { authorization?: string | undefined; correlationId?: string | undefined; traceparent?: string | undefined }): CommandContext {
    const caller = this.authenticate(bearerToken(received.authorization));
    const traceparent = received.traceparent && TRACEPARENT_PATTERN.test(received.traceparent) ? received.traceparent : undefined;
    return { caller, correlationId: received.correlationId || randomUUID(), traceparent };
  }
}
