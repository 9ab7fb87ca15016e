import type { KeyEvent, PermissionFinding, PermissionFindingKind } from '@keyledger/contracts';
import type { KeyRecord, RotationPolicyTable } from '@keyledger/key-domain';
import { evolveKey, evolveRotationPolicies } from '@keyledger/key-domain';
import { issuedTimeline, keyTimeline } from './key-timeline.js';
import type { AuditedKey, KeyUsageFacts, PermissionAuditSettings } from './permission-findings.js';
import { auditPermissions, reportUsageWindow } from './permission-findings.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-06T12:00:00.000Z');
const SETTINGS: PermissionAuditSettings = { now: NOW, unusedDays: 90, staleSuspendedDays: 30, retentionDays: 365 };
const NO_POLICIES: RotationPolicyTable = new Map();

function issuedEvent(keyId: string, overrides: Partial<Record<string, unknown>> = {}): KeyEvent {
  return {
    type: 'KeyIssued',
    data: {
      keyId,
      tenant: 'acme',
      owner: 'billing',
      environment: 'live',
      prefix: 'kl',
      digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
      hint: 'kl_live_…abcd',
      scopes: ['orders:read'],
      ipAllowlist: ['10.0.0.0/8'],
      expiresAt: new Date(NOW + 365 * DAY).toISOString(),
      metadata: {},
      ...overrides,
    },
  };
}

/** A key issued `ageDays` ago, never changed: by default restricted, expiring, and clean of every finding but usage. */
function key(keyId: string, ageDays: number, overrides: Partial<Record<string, unknown>> = {}): AuditedKey {
  const record = evolveKey(undefined, issuedEvent(keyId, overrides))!;
  const issuedAt = NOW - ageDays * DAY;
  return { record, issuedAt, timeline: issuedTimeline(record, issuedAt) };
}

function withRecord(audited: AuditedKey, ...events: KeyEvent[]): AuditedKey {
  return { ...audited, record: events.reduce<KeyRecord>((record, event) => evolveKey(record, event)!, audited.record) };
}

const used = (scopes: string[], validCalls = 3): KeyUsageFacts => ({ validCalls, requestedScopes: scopes, lastValidAt: NOW - DAY, lastPresentedAt: NOW - DAY });

function audit(keys: AuditedKey[], usage: Record<string, KeyUsageFacts> = {}, policies = NO_POLICIES, settings = SETTINGS): PermissionFinding[] {
  return auditPermissions(keys, (keyId) => usage[keyId], policies, settings);
}

const kinds = (findings: PermissionFinding[]): [PermissionFindingKind, string][] => findings.map((finding) => [finding.kind, finding.keyId]);

describe('unused keys', () => {
  it('reports a key issued exactly N days ago with no valid verification, and not one issued a millisecond later', () => {
    const old = key('key_old', 90);
    const young = { ...key('key_young', 90), issuedAt: NOW - 90 * DAY + 1 };
    const findings = audit([old, young]);
    expect(kinds(findings)).toEqual([['unused-key', 'key_old']]);
    expect(findings[0]).toMatchObject({
      tenant: 'acme',
      owner: 'billing',
      evidence: { issuedAt: new Date(NOW - 90 * DAY).toISOString(), searchedSince: new Date(NOW - 90 * DAY).toISOString(), validCalls: 0, lastValidUseAt: null },
    });
  });

  it('does not report a key with a valid verification in the window, and reports one whose last valid use is older', () => {
    const findings = audit([key('key_a', 200), key('key_b', 200)], {
      key_a: used(['orders:read'], 1),
      key_b: { validCalls: 0, requestedScopes: [], lastValidAt: NOW - 91 * DAY, lastPresentedAt: NOW - 2 * DAY },
    });
    expect(kinds(findings)).toEqual([['unused-key', 'key_b']]);
    expect(findings[0]!.evidence).toMatchObject({ lastValidUseAt: new Date(NOW - 91 * DAY).toISOString(), lastPresentedAt: new Date(NOW - 2 * DAY).toISOString() });
  });

  it('searches only the retained usage when the window reaches past retention, and says so', () => {
    const settings = { ...SETTINGS, retentionDays: 30 };
    const [finding] = audit([key('key_a', 200)], {}, NO_POLICIES, settings);
    const window = reportUsageWindow(settings);
    expect(window.view.complete).toBe(false);
    expect(finding!.evidence['searchedSince']).toBe(window.view.retainedSince);
    expect(window.view.retainedSince).toBe('2026-11-06T00:00:00.000Z');
    expect(reportUsageWindow(SETTINGS).view.complete).toBe(true);
  });

  it('leaves out suspended, revoked and expired keys', () => {
    const suspended = withRecord(key('key_s', 100), { type: 'KeySuspended', data: { keyId: 'key_s', reason: 'x' } });
    const revoked = withRecord(key('key_r', 100), { type: 'KeyRevoked', data: { keyId: 'key_r', reason: 'x' } });
    const expired = key('key_e', 100, { expiresAt: new Date(NOW - DAY).toISOString() });
    expect(audit([suspended, revoked, expired]).filter((finding) => finding.kind === 'unused-key')).toEqual([]);
  });
});

describe('unused scopes', () => {
  it('reports granted scopes no valid verification asked for, with what was asked', () => {
    const findings = audit([key('key_a', 100, { scopes: ['orders:read', 'orders:write', 'invoices:read'] })], { key_a: used(['orders:read']) });
    expect(kinds(findings)).toEqual([['unused-scopes', 'key_a']]);
    expect(findings[0]!.evidence).toMatchObject({ unusedScopes: ['orders:write', 'invoices:read'], requestedScopes: ['orders:read'], validCalls: 3 });
  });

  it('counts a wildcard as used by any scope it grants, by the verifier’s rules', () => {
    const findings = audit([key('key_a', 100, { scopes: ['orders:*', 'billing:*', '*'] })], { key_a: used(['orders:items:write']) });
    // `*` grants orders:items:write too; billing:* grants nothing asked.
    expect(findings[0]!.evidence['unusedScopes']).toEqual(['billing:*']);
    // `orders:*` does not grant `ordersx:read`, and `*` does not grant an admin scope.
    const admin = audit([key('key_b', 100, { scopes: ['orders:*', '*', 'keyledger:keys:read'] })], { key_b: used(['ordersx:read', 'keyledger:keys:read']) });
    expect(admin.find((finding) => finding.kind === 'unused-scopes')!.evidence['unusedScopes']).toEqual(['orders:*']);
  });

  it('does not count a scope granted less than N days ago, nor a key younger than N days', () => {
    const base = key('key_a', 100, { scopes: ['orders:read'] });
    const issued = issuedEvent('key_a', { scopes: ['orders:read'] });
    const update: KeyEvent = { type: 'KeyUpdated', data: { keyId: 'key_a', scopes: ['orders:read', 'orders:write', 'invoices:read'] } };
    const timeline = keyTimeline([
      { event: issued, at: NOW - 100 * DAY },
      { event: { ...update, data: { keyId: 'key_a', scopes: ['orders:read', 'invoices:read'] } }, at: NOW - 95 * DAY },
      { event: update, at: NOW - 10 * DAY },
    ]);
    const updated = { ...withRecord(base, update), timeline };
    const young = key('key_y', 89, { scopes: ['orders:read', 'orders:write'] });
    const findings = audit([updated, young], { key_a: used(['orders:read']), key_y: used(['orders:read']) });
    expect(findings.filter((finding) => finding.kind === 'unused-scopes').map((finding) => [finding.keyId, finding.evidence['unusedScopes']])).toEqual([
      ['key_a', ['invoices:read']],
    ]);
  });

  it('leaves a key without valid verifications to the unused-key finding', () => {
    expect(kinds(audit([key('key_a', 100, { scopes: ['orders:read', 'orders:write'] })]))).toEqual([['unused-key', 'key_a']]);
  });
});

describe('keys without expiry or IP restriction', () => {
  it('reports a live key that never expires and one accepted from anywhere, suspended ones included', () => {
    const open = key('key_open', 1, { expiresAt: undefined, ipAllowlist: [] });
    const suspended = withRecord(key('key_s', 1, { expiresAt: undefined }), { type: 'KeySuspended', data: { keyId: 'key_s', reason: 'x' } });
    const revoked = withRecord(key('key_r', 1, { expiresAt: undefined, ipAllowlist: [] }), { type: 'KeyRevoked', data: { keyId: 'key_r', reason: 'x' } });
    expect(kinds(audit([open, suspended, revoked]))).toEqual([
      ['no-expiry', 'key_open'],
      ['no-expiry', 'key_s'],
      ['no-ip-restriction', 'key_open'],
    ]);
  });
});

describe('rotation overdue', () => {
  const policies = evolveRotationPolicies(evolveRotationPolicies(new Map(), { tenant: 'acme', maxAgeMs: 30 * DAY, graceMs: DAY }), {
    tenant: 'acme',
    owner: 'legacy',
    maxAgeMs: 60 * DAY,
    graceMs: null,
  });

  it('reports a key at or past its maximum age by the owner’s policy, else the tenant’s', () => {
    const due = key('key_due', 30);
    const notYet = { ...key('key_young', 30), issuedAt: NOW - 30 * DAY + 1 };
    const legacy = key('key_legacy', 45, { owner: 'legacy' });
    const legacyDue = key('key_legacy_due', 61, { owner: 'legacy' });
    const findings = audit([due, notYet, legacy, legacyDue], { key_due: used([]), key_young: used([]), key_legacy: used([]), key_legacy_due: used([]) }, policies);
    expect(kinds(findings)).toEqual([
      ['rotation-overdue', 'key_due'],
      ['rotation-overdue', 'key_legacy_due'],
    ]);
    expect(findings[1]!.evidence).toMatchObject({ dueAt: new Date(NOW - DAY).toISOString(), maxAgeMs: 60 * DAY, overdueDays: 1, rotatedBySchedule: true });
  });

  it('does not report a rotated key in its grace, and says an admin key waits for a person', () => {
    const rotated = withRecord(key('key_rot', 40), {
      type: 'KeyRotated',
      data: { keyId: 'key_rot', replacedBy: 'key_new', graceEndsAt: new Date(NOW + DAY).toISOString() },
    });
    const admin = key('key_admin', 40, { scopes: ['keyledger:keys:read'] });
    const findings = audit([rotated, admin], { key_rot: used([]), key_admin: used(['keyledger:keys:read']) }, policies);
    expect(kinds(findings)).toEqual([['rotation-overdue', 'key_admin']]);
    expect(findings[0]!.evidence['rotatedBySchedule']).toBe(false);
  });
});

describe('stale suspensions', () => {
  const suspend = (keyId: string, daysAgo: number): AuditedKey => {
    const issued = issuedEvent(keyId);
    const suspended: KeyEvent = { type: 'KeySuspended', data: { keyId, reason: 'x' } };
    const base = withRecord(key(keyId, 200), suspended);
    return {
      ...base,
      timeline: keyTimeline([
        { event: issued, at: NOW - 200 * DAY },
        { event: suspended, at: NOW - 150 * DAY },
        { event: { type: 'KeyResumed', data: { keyId } }, at: NOW - 100 * DAY },
        { event: suspended, at: NOW - daysAgo * DAY },
      ]),
    };
  };

  it('reports a key suspended for more than N days since its last suspension, not one suspended exactly N days', () => {
    const findings = audit([suspend('key_stale', 31), suspend('key_edge', 30)]);
    expect(kinds(findings)).toEqual([['stale-suspension', 'key_stale']]);
    expect(findings[0]!.evidence).toEqual({ suspendedAt: new Date(NOW - 31 * DAY).toISOString(), suspendedDays: 31 });
  });
});

describe('broad admin keys', () => {
  it('reports keyledger:* and keys of the root tenant, not a narrow admin key nor a data-plane `*`', () => {
    const findings = audit(
      [
        key('key_star', 1, { scopes: ['keyledger:*'] }),
        key('key_root', 1, { tenant: 'root', scopes: ['keyledger:keys:read'] }),
        key('key_both', 1, { tenant: 'root', scopes: ['keyledger:*', 'orders:read'] }),
        key('key_narrow', 1, { scopes: ['keyledger:keys:read'] }),
        key('key_data', 1, { scopes: ['*'] }),
      ],
      {},
    );
    expect(findings.map((finding) => [finding.keyId, finding.evidence['reasons']])).toEqual([
      ['key_star', ['keyledger:*']],
      ['key_both', ['keyledger:*', 'cross-tenant']],
      ['key_root', ['cross-tenant']],
    ]);
  });
});

describe('key timeline', () => {
  it('drops a removed scope and starts it again when granted back', () => {
    const issued = issuedEvent('key_a', { scopes: ['a', 'b'] });
    const timeline = keyTimeline([
      { event: issued, at: 1 },
      { event: { type: 'KeyUpdated', data: { keyId: 'key_a', scopes: ['a'] } }, at: 2 },
      { event: { type: 'KeyUpdated', data: { keyId: 'key_a', scopes: ['a', 'b'] } }, at: 3 },
    ]);
    expect([...timeline.scopesHeldSince]).toEqual([
      ['a', 1],
      ['b', 3],
    ]);
    expect(timeline.suspendedAt).toBeUndefined();
  });
});
