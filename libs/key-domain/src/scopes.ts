/**
 * Scopes are colon-separated names such as `orders:read`. A granted scope ending in `*`
 * grants every scope that starts with what precedes it at a segment boundary: `orders:*`
 * grants `orders:read` and `orders:items:write` but not `ordersx:read`; `*` grants all.
 */
const SEGMENT = '[a-z0-9][a-z0-9_.-]{0,63}';
const REQUESTED_SCOPE = new RegExp(`^${SEGMENT}(:${SEGMENT}){0,7}$`);
const GRANTED_SCOPE = new RegExp(`^(\\*|${SEGMENT}(:${SEGMENT}){0,7}(:\\*)?)$`);

export const MAX_SCOPES = 100;

/** A scope a key may hold: a name, or a name prefix ending in `:*`, or `*`. */
export function isGrantableScope(scope: string): boolean {
  return scope.length <= 200 && GRANTED_SCOPE.test(scope);
}

/** A scope a caller may ask for: a plain name, no wildcard. */
export function isRequestableScope(scope: string): boolean {
  return scope.length <= 200 && REQUESTED_SCOPE.test(scope);
}

export function scopeGrants(granted: string, requested: string): boolean {
  if (granted === '*') return true;
  if (granted.endsWith(':*')) return requested.startsWith(granted.slice(0, -1));
  return granted === requested;
}

/** True when every requested scope is granted by at least one granted scope. */
export function scopesSatisfy(granted: readonly string[], requested: readonly string[]): boolean {
  return requested.every((scope) => granted.some((grant) => scopeGrants(grant, scope)));
}
