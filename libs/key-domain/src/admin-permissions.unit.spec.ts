import fc from 'fast-check';
import { ADMIN_SCOPES } from '@keyledger/contracts';
import type { AdminPermission } from './admin-permissions.js';
import { adminScopesBeyond, hasAdminPermission } from './admin-permissions.js';
import { isAdminScope } from './scopes.js';

const PERMISSIONS = Object.keys(ADMIN_SCOPES) as AdminPermission[];
const segment = fc.oneof(
  fc.constant('keyledger'),
  fc.constant('keys'),
  fc.constant('leaks'),
  fc.constant('read'),
  fc.constant('write'),
  fc.constant('report'),
  fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,6}$/),
);
const name = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(':'));
const adminName = fc.array(segment, { maxLength: 3 }).map((parts) => ['keyledger', ...parts].join(':'));
const grant = fc.oneof(
  name,
  adminName,
  name.map((s) => `${s}:*`),
  adminName.map((s) => `${s}:*`),
  fc.constant('*'),
  fc.constant('keyledger:*'),
);
const scopes = fc.array(grant, { maxLength: 6 });

describe('admin permissions', () => {
  it('are never granted by scopes outside the admin namespace, * and data-plane wildcards included', () => {
    const dataPlane = fc.array(
      grant.filter((scope) => !isAdminScope(scope)),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(dataPlane, (held) => PERMISSIONS.every((permission) => !hasAdminPermission(held, permission))),
      { numRuns: 5000 },
    );
    expect(PERMISSIONS.some((permission) => hasAdminPermission(['*', 'orders:*'], permission))).toBe(false);
  });

  it('are each granted by their own scope, by keyledger:* and by a keyledger wildcard above it', () => {
    for (const permission of PERMISSIONS) {
      expect(hasAdminPermission([ADMIN_SCOPES[permission]], permission)).toBe(true);
      expect(hasAdminPermission(['keyledger:*'], permission)).toBe(true);
    }
    expect(hasAdminPermission(['keyledger:keys:*'], 'write')).toBe(true);
    expect(hasAdminPermission(['keyledger:keys:*'], 'read')).toBe(true);
    expect(hasAdminPermission(['keyledger:leaks:*'], 'write')).toBe(false);
  });

  it('grant reading and writing apart; writing also reports leaks, reporting leaks grants nothing else', () => {
    expect(hasAdminPermission(['keyledger:keys:read'], 'write')).toBe(false);
    expect(hasAdminPermission(['keyledger:keys:write'], 'read')).toBe(false);
    expect(hasAdminPermission(['keyledger:keys:write'], 'reportLeaks')).toBe(true);
    expect(hasAdminPermission(['keyledger:leaks:report'], 'write')).toBe(false);
    expect(hasAdminPermission(['keyledger:leaks:report'], 'read')).toBe(false);
  });

  it('lets a caller hand on every scope it holds, and any data-plane scope', () => {
    fc.assert(
      fc.property(scopes, scopes, (held, other) => {
        const dataPlane = other.filter((scope) => !isAdminScope(scope));
        return adminScopesBeyond(held, held).length === 0 && adminScopesBeyond(held, dataPlane).length === 0;
      }),
      { numRuns: 3000 },
    );
  });

  it('never lets a key made by a caller hold an admin permission the caller lacks', () => {
    fc.assert(
      fc.property(scopes, scopes, (held, granting) => {
        if (adminScopesBeyond(held, granting).length > 0) return true;
        return PERMISSIONS.every((permission) => !hasAdminPermission(granting, permission) || hasAdminPermission(held, permission));
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses the admin scopes a caller does not hold, * holders included, unless the key keeps them already', () => {
    expect(adminScopesBeyond(['*'], ['keyledger:*', 'orders:read'])).toEqual(['keyledger:*']);
    expect(adminScopesBeyond(['keyledger:keys:write'], ['keyledger:keys:read', 'keyledger:keys:write'])).toEqual(['keyledger:keys:read']);
    expect(adminScopesBeyond(['keyledger:keys:*'], ['keyledger:keys:read', 'keyledger:keys:*'])).toEqual([]);
    expect(adminScopesBeyond(['keyledger:keys:*'], ['keyledger:*'])).toEqual(['keyledger:*']);
    expect(adminScopesBeyond(['keyledger:*'], ['keyledger:*', 'keyledger:leaks:report'])).toEqual([]);
    // An update by a weaker admin may narrow a key's scopes without giving up what it keeps.
    expect(adminScopesBeyond(['keyledger:keys:write'], ['keyledger:*'], ['keyledger:*', 'orders:read'])).toEqual([]);
  });
});
