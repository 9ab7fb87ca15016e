import { ADMIN_SCOPES, ApiError, ROOT_TENANT } from '@keyledger/contracts';
import { scopesSatisfy } from '@keyledger/key-domain';
import type { AdminPermission, Caller } from './admin-authenticator.js';

/**
 * The admin plane's one rule: the caller's key holds the permission's scope, and acts on its
 * own tenant (or on every tenant, for a key of the root tenant). PERMISSION_DENIED otherwise.
 */
export function authorizeAdmin(caller: Caller, tenant: string, permission: AdminPermission): void {
  const scope = ADMIN_SCOPES[permission];
  if (!scopesSatisfy(caller.scopes, [scope])) throw new ApiError('PERMISSION_DENIED', `the admin key lacks the scope ${scope}`);
  if (caller.tenant !== ROOT_TENANT && caller.tenant !== tenant) throw new ApiError('PERMISSION_DENIED', `the admin key may not act on tenant ${tenant}`);
}

/** Whether the caller may see anything of the tenant at all: a key of another tenant is not found, not forbidden. */
export function seesTenant(caller: Caller, tenant: string): boolean {
  return caller.tenant === ROOT_TENANT || caller.tenant === tenant;
}
