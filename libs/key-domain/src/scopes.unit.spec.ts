import fc from 'fast-check';
import { isAdminScope, isGrantableScope, isRequestableScope, scopeCovers, scopeGrants, scopesSatisfy } from './scopes.js';

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,6}$/);
const scope = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(':'));
/** Scopes that often fall in the admin namespace and share segments, so wildcards meet. */
const namespacedSegment = fc.oneof(fc.constant('keyledger'), fc.constant('keys'), fc.constant('read'), segment);
const namespacedScope = fc.array(namespacedSegment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(':'));
const grant = fc.oneof(
  namespacedScope,
  namespacedScope.map((s) => `${s}:*`),
  fc.constant('*'),
);
/** A segment the generators never produce (eight characters): a scope nobody holds by name. */
const UNHELD = 'zzzzzzzz';

/** Reference by segments: a trailing `*` matches one or more further segments; `*` all but the admin namespace. */
function refGrants(granted: string, requested: string): boolean {
  if (granted === '*') return requested.split(':')[0] !== 'keyledger';
  const g = granted.split(':');
  const r = requested.split(':');
  if (g[g.length - 1] === '*') return r.length >= g.length && g.slice(0, -1).every((part, i) => part === r[i]);
  return g.length === r.length && g.every((part, i) => part === r[i]);
}

describe('scopes', () => {
  it('grants by wildcard exactly as the segment reference does', () => {
    const granted = fc.oneof(
      scope,
      scope.map((s) => `${s}:*`),
      fc.constant('*'),
    );
    fc.assert(
      fc.property(granted, scope, (g, r) => scopeGrants(g, r) === refGrants(g, r)),
      { numRuns: 5000 },
    );
  });

  it('grants by wildcard as the reference does with admin-namespace scopes too', () => {
    fc.assert(
      fc.property(grant, namespacedScope, (g, r) => scopeGrants(g, r) === refGrants(g, r)),
      { numRuns: 5000 },
    );
  });

  it('never grants an admin scope by * or by any wildcard outside the namespace', () => {
    const adminScope = fc.array(namespacedSegment, { maxLength: 3 }).map((parts) => ['keyledger', ...parts].join(':'));
    const outside = fc.oneof(
      fc.constant('*'),
      scope.filter((s) => !isAdminScope(s)).map((s) => `${s}:*`),
      scope.filter((s) => !isAdminScope(s)),
    );
    fc.assert(
      fc.property(fc.array(outside, { maxLength: 5 }), adminScope, (granted, requested) => !scopesSatisfy(granted, [requested])),
      { numRuns: 5000 },
    );
    expect(scopeGrants('*', 'keyledger:keys:write')).toBe(false);
    expect(scopeGrants('*', 'keyledger')).toBe(false);
    expect(scopeGrants('*', 'keyledgerx:read')).toBe(true);
    expect(scopeGrants('keyledger:*', 'keyledger:keys:write')).toBe(true);
    expect(scopeGrants('keyledger:keys:*', 'keyledger:leaks:report')).toBe(false);
  });

  it('covers a grant only when it grants everything that grant does', () => {
    fc.assert(
      fc.property(grant, grant, fc.array(namespacedScope, { maxLength: 20 }), (held, granted, requests) => {
        if (!scopeCovers(held, granted)) return true;
        return requests.every((requested) => !scopeGrants(granted, requested) || scopeGrants(held, requested));
      }),
      { numRuns: 5000 },
    );
  });

  it('does not cover a grant when some scope it grants is not held: a witness shows it', () => {
    const witness = (granted: string): string => (granted === '*' ? UNHELD : granted.endsWith(':*') ? `${granted.slice(0, -1)}${UNHELD}` : granted);
    fc.assert(
      fc.property(grant, grant, (held, granted) => {
        if (scopeCovers(held, granted)) return true;
        const requested = witness(granted);
        return scopeGrants(granted, requested) && !scopeGrants(held, requested);
      }),
      { numRuns: 5000 },
    );
  });

  it('covers by itself, by * outside the admin namespace, and by a wider wildcard', () => {
    expect(scopeCovers('orders:*', 'orders:items:*')).toBe(true);
    expect(scopeCovers('orders:items:*', 'orders:*')).toBe(false);
    expect(scopeCovers('*', 'orders:*')).toBe(true);
    expect(scopeCovers('*', 'keyledger:*')).toBe(false);
    expect(scopeCovers('*', 'keyledger:keys:*')).toBe(false);
    expect(scopeCovers('keyledger:*', 'keyledger:keys:*')).toBe(true);
    expect(scopeCovers('keyledger:keys:write', 'keyledger:keys:*')).toBe(false);
    expect(scopeCovers('orders:*', '*')).toBe(false);
  });

  it('grants orders:read and deeper scopes under orders:*, but not a sibling prefix', () => {
    expect(scopeGrants('orders:*', 'orders:read')).toBe(true);
    expect(scopeGrants('orders:*', 'orders:items:write')).toBe(true);
    expect(scopeGrants('orders:*', 'ordersx:read')).toBe(false);
    expect(scopeGrants('orders:*', 'orders')).toBe(false);
  });

  it('needs every requested scope', () => {
    expect(scopesSatisfy(['orders:read', 'users:*'], ['orders:read', 'users:list'])).toBe(true);
    expect(scopesSatisfy(['orders:read'], ['orders:read', 'orders:write'])).toBe(false);
  });

  it('keeps wildcards out of requests and malformed names out of grants', () => {
    expect(isRequestableScope('orders:*')).toBe(false);
    expect(isGrantableScope('orders:*')).toBe(true);
    expect(isGrantableScope('orders*')).toBe(false);
    expect(isGrantableScope('Orders:read')).toBe(false);
    expect(isGrantableScope('orders::read')).toBe(false);
  });
});
