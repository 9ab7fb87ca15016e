import { ADMIN_SCOPES } from '@keyledger/contracts';
import { isAdminScope, scopeCovers, scopesSatisfy } from './scopes.js';

/** What an admin key may be allowed to do, each granted by its scope (`ADMIN_SCOPES`). */
export type AdminPermission = keyof typeof ADMIN_SCOPES;

/** A permission is granted by its own scope, and by these: whoever may change keys may report them leaked. */
const ALSO_GRANTED_BY: Readonly<Record<AdminPermission, readonly string[]>> = {
  read: [],
  write: [],
  reportLeaks: [ADMIN_SCOPES.write],
};

/**
 * Whether a key's scopes grant an admin permission. Only scopes of the admin namespace do
 * (the permission's own, or a `keyledger:` wildcard above it): `*` and data-plane wildcards
 * never grant one (see `scopeGrants`).
 */
export function hasAdminPermission(scopes: readonly string[], permission: AdminPermission): boolean {
  return [ADMIN_SCOPES[permission], ...ALSO_GRANTED_BY[permission]].some((granting) => scopesSatisfy(scopes, [granting]));
}

/**
 * The admin scopes among `granting` that a caller holding `held` may not hand on: those none of
 * its own scopes covers, unless the key keeps them already (`kept`, its scopes before an update).
 * An admin may give a key only admin rights it has itself, so no key it makes outranks it;
 * data-plane scopes are not limited here. Empty: the grant is allowed.
 */
export function adminScopesBeyond(held: readonly string[], granting: readonly string[], kept: readonly string[] = []): string[] {
  return granting.filter((scope) => isAdminScope(scope) && !kept.includes(scope) && !held.some((own) => scopeCovers(own, scope)));
}
