import fc from 'fast-check';
import { isGrantableScope, isRequestableScope, scopeGrants, scopesSatisfy } from './scopes.js';

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,6}$/);
const scope = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(':'));

/** Reference by segments: a trailing `*` matches one or more further segments. */
function refGrants(granted: string, requested: string): boolean {
  if (granted === '*') return true;
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
