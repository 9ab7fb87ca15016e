import { ROOT_TENANT } from '@keyledger/contracts';

/** Who is calling the admin plane, established from their admin key. */
export interface Caller {
  readonly keyId: string;
  readonly tenant: string;
  readonly scopes: readonly string[];
}

/** What an admin key may be allowed to do; the rule that grants it is the domain's (`hasAdminPermission`). */
export type { AdminPermission } from '@keyledger/key-domain';

/** Context of a command for its events' metadata. */
export interface CommandContext {
  readonly caller: Caller;
  readonly correlationId: string;
  readonly traceparent?: string | undefined;
  /** The event that caused the command (an incident, for the rotator's response); else the correlation id. */
  readonly causationId?: string | undefined;
}

/**
 * The caller of what Keyledger does on its own (scheduled rotations, quiet graces, incident
 * responses, the root key's bootstrap): every permission, in every tenant. The actor recorded
 * on its events is the process's own (`system:rotator`, …).
 */
export const SYSTEM_CALLER: Caller = Object.freeze({ keyId: 'system', tenant: ROOT_TENANT, scopes: Object.freeze(['keyledger:*']) });
