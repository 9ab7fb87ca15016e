/**
 * Scopes are colon-separated names such as `orders:read`. A granted scope ending in `*`
 * grants every scope that starts with what precedes it at a segment boundary: `orders:*`
 * grants `orders:read` and `orders:items:write` but not `ordersx:read`; `*` grants every
 * scope outside the admin namespace (`keyledger`, `keyledger:…`), which only a scope in that
 * namespace grants: `keyledger:*`, `keyledger:keys:*` or the name itself.
 */
const SEGMENT = '[a-z0-9][a-z0-9_.-]{0,63}';
const REQUESTED_SCOPE = new RegExp(`^${SEGMENT}(:${SEGMENT}){0,7}$`);
const GRANTED_SCOPE = new RegExp(`^(\\*|${SEGMENT}(:${SEGMENT}){0,7}(:\\*)?)$`);

export const MAX_SCOPES = 100;

/** The first segment of every admin scope (`keyledger:keys:write`, `keyledger:*`). */
export const ADMIN_NAMESPACE = 'keyledger';

/** Whether a scope (a name or a wildcard) lies in the admin namespace: `keyledger` or anything under `keyledger:`. */
export function isAdminScope(scope: string): boolean {
  return scope === ADMIN_NAMESPACE || scope.startsWith(`${ADMIN_NAMESPACE}:`);
}

/** A scope a key may hold: a name, or a name prefix ending in `:*`, or `*`. */
export function isGrantableScope(scope: string): boolean {
  return scope.length <= 200 && GRANTED_SCOPE.test(scope);
}

/** A scope a caller may ask for: a plain name, no wildcard. */
export function isRequestableScope(scope: string): boolean {
  return scope.length <= 200 && REQUESTED_SCOPE.test(scope);
}

/** Whether a granted scope (a name or a wildcard) grants a requested name. */
export function scopeGrants(granted: string, requested: string): boolean {
  // `*` is the data plane's wildcard: a key made to call every API of a tenant is not thereby
  // an admin key. Admin rights are granted only from inside their namespace.
  if (granted === '*') return !isAdminScope(requested);
  if (granted.endsWith(':*')) return requested.startsWith(granted.slice(0, -1));
  return granted === requested;
}

/**
 * Whether `held` grants everything `granted` grants (both names or wildcards): what a caller
 * may hand on. `orders:*` covers `orders:read` and `orders:items:*`; `*` covers every
 * wildcard outside the admin namespace and only `*` covers `*`.
 */
export function scopeCovers(held: string, granted: string): boolean {
  if (granted === '*') return held === '*';
  if (granted.endsWith(':*')) {
    const stem = granted.slice(0, -1);
    if (held === '*') return !isAdminScope(stem.slice(0, -1));
    return held.endsWith(':*') && stem.startsWith(held.slice(0, -1));
  }
  return scopeGrants(held, granted);
}

/** True when every requested scope is granted by at least one granted scope. */
export function scopesSatisfy(granted: readonly string[], requested: readonly string[]): boolean {
  return requested.every((scope) => granted.some((grant) => scopeGrants(grant, scope)));
}
