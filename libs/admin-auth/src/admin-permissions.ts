import { ADMIN_SCOPES, ApiError, ROOT_TENANT } from '@keyledger/contracts';
import type { AdminPermission } from '@keyledger/key-domain';
import { ADMIN_NAMESPACE, adminScopesBeyond, hasAdminPermission } from '@keyledger/key-domain';
import type { Caller } from './command-context.js';

/**
 * The admin plane's one rule: the caller's key holds the permission by a scope of the admin
 * namespace (`hasAdminPermission`: `*` is no admin scope), and acts on its own tenant (or on
 * every tenant, for a key of the root tenant). PERMISSION_DENIED otherwise.
 */
export function authorizeAdmin(caller: Caller, tenant: string, permission: AdminPermission): void {
  if (!hasAdminPermission(caller.scopes, permission)) throw new ApiError('PERMISSION_DENIED', `the admin key lacks the scope ${ADMIN_SCOPES[permission]}`);
  if (caller.tenant !== ROOT_TENANT && caller.tenant !== tenant) throw new ApiError('PERMISSION_DENIED', `the admin key may not act on tenant ${tenant}`);
}

/**
 * A key the caller makes (issues, gives scopes, or rotates, receiving the new plaintext) may hold
 * only admin scopes the caller's own key covers (`adminScopesBeyond`); `kept` are the scopes the
 * key has already, for an update. PERMISSION_DENIED naming the scopes otherwise.
 */
export function authorizeScopeGrant(caller: Caller, scopes: readonly string[], kept: readonly string[] = []): void {
  const beyond = adminScopesBeyond(caller.scopes, scopes, kept);
  if (beyond.length > 0)
    throw new ApiError(
      'PERMISSION_DENIED',
      `the admin key may not grant ${beyond.join(', ')}: a ${ADMIN_NAMESPACE} scope is granted only by a key that holds it`,
    );
}

/** Whether the caller may see anything of the tenant at all: a key of another tenant is not found, not forbidden. */
export function seesTenant(caller: Caller, tenant: string): boolean {
  return caller.tenant === ROOT_TENANT || caller.tenant === tenant;
}
