import { randomUUID } from 'node:crypto';
import { bearerToken } from '@keyledger/api-transport';
import { ApiError, TRACEPARENT_PATTERN } from '@keyledger/contracts';
import type { KeyHasher } from '@keyledger/key-secrets';
import type { KeyIndex } from '@keyledger/key-projection';
import { verifyKey } from '@keyledger/key-projection';
import type { Caller, CommandContext } from './command-context.js';

/**
 * The admin plane protects itself with Keyledger keys: a caller presents a key holding
 * `keyledger:keys:read` or `keyledger:keys:write` (or `keyledger:*`; never `*`, see
 * `authorizeAdmin`) and may act on its own tenant, or on every tenant when the key belongs to
 * the root tenant.
 */
export class AdminAuthenticator {
  constructor(
    private readonly index: KeyIndex,
    private readonly hasher: KeyHasher,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Establishes the caller from a presented key; UNAUTHENTICATED unless it is a valid key. */
  authenticate(presented: string | undefined): Caller {
    if (!presented) throw new ApiError('UNAUTHENTICATED', 'an admin key is required (Authorization: Bearer <key>)');
    const result = verifyKey(this.index, this.hasher, presented, {}, this.clock());
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
