import { ADMIN_SCOPES, ApiError, ROOT_TENANT } from '@keyledger/contracts';
import { scopesSatisfy } from '@keyledger/key-domain';
import type { AdminPermission, Caller } from './command-context.js';

/** A permission is granted by its own scope, and by these: whoever may change keys may report them leaked. */
const ALSO_GRANTED_BY: Readonly<Record<AdminPermission, readonly string[]>> = {
  read: [],
  write: [],
  reportLeaks: [ADMIN_SCOPES.write],
};

/**
 * The admin plane's one rule: the caller's key holds the permission's scope, and acts on its
 * own tenant (or on every tenant, for a key of the root tenant). PERMISSION_DENIED otherwise.
 */
export function authorizeAdmin(caller: Caller, tenant: string, permission: AdminPermission): void {
  const scope = ADMIN_SCOPES[permission];
  if (![scope, ...ALSO_GRANTED_BY[permission]].some((granting) => scopesSatisfy(caller.scopes, [granting])))
    throw new ApiError('PERMISSION_DENIED', `the admin key lacks the scope ${scope}`);
  if (caller.tenant !== ROOT_TENANT && caller.tenant !== tenant) throw new ApiError('PERMISSION_DENIED', `the admin key may not act on tenant ${tenant}`);
}

/** Whether the caller may see anything of the tenant at all: a key of another tenant is not found, not forbidden. */
export function seesTenant(caller: Caller, tenant: string): boolean {
  return caller.tenant === ROOT_TENANT || caller.tenant === tenant;
}
