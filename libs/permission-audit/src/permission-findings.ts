import type { FindingEvidence, PermissionFinding, PermissionFindingKind, ReportUsageWindow } from '@keyledger/contracts';
import { PERMISSION_FINDING_KINDS, ROOT_TENANT } from '@keyledger/contracts';
import type { KeyRecord, RotationPolicyTable } from '@keyledger/key-domain';
import { ADMIN_NAMESPACE, effectivePolicy, isAdminKey, isAdminScope, rotationDueAt, scopeGrants, statusAt, takesQuotaSlot } from '@keyledger/key-domain';
import type { KeyTimeline } from './key-timeline.js';

const DAY = 86_400_000;
/** The admin wildcard: every admin permission, and every admin scope to hand on. */
const ADMIN_WILDCARD = `${ADMIN_NAMESPACE}:*`;

/** A key as the audit sees it: its record, when it was issued, and its timeline. */
export interface AuditedKey {
  readonly record: KeyRecord;
  readonly issuedAt: number;
  readonly timeline: KeyTimeline;
}

/** A key's usage as the ledger knows it. */
export interface KeyUsageFacts {
  /** VALID verifications since the window's start (as far as usage is retained). */
  readonly validCalls: number;
  /** The scopes those verifications asked for. */
  readonly requestedScopes: readonly string[];
  /** The last VALID verification still retained, inside the window or not. */
  readonly lastValidAt: number | undefined;
  /** The last verification of any outcome: kept past usage retention. */
  readonly lastPresentedAt: number | undefined;
}

const NO_USAGE: KeyUsageFacts = { validCalls: 0, requestedScopes: [], lastValidAt: undefined, lastPresentedAt: undefined };

export interface PermissionAuditSettings {
  readonly now: number;
  /** A key (or scope) held this long without a VALID verification (or request) is unused. */
  readonly unusedDays: number;
  /** A suspension longer than this is stale. */
  readonly staleSuspendedDays: number;
  /** Days of usage kept (USAGE_RETENTION_DAYS): older usage is gone. */
  readonly retentionDays: number;
}

/**
 * The window the usage-based rules look at: the last `unusedDays`, of which only what retention
 * kept is known. Retention drops whole UTC days before today minus `retentionDays`.
 */
export function reportUsageWindow(settings: PermissionAuditSettings): { since: number; retainedSince: number; view: ReportUsageWindow } {
  const since = settings.now - settings.unusedDays * DAY;
  const retainedSince = Math.floor(settings.now / DAY) * DAY - settings.retentionDays * DAY;
  return {
    since,
    retainedSince,
    view: { since: iso(since), retainedSince: iso(retainedSince), complete: since >= retainedSince },
  };
}

/**
 * Every finding about these keys, by the rules below, in the order of PERMISSION_FINDING_KINDS then
 * tenant and key id. Only live keys (not revoked, not expired: those that take a tenant's slot)
 * are reported; a key's usage comes from `usageOf`, the rotation policies from `policies`.
 */
export function auditPermissions(
  keys: Iterable<AuditedKey>,
  usageOf: (keyId: string) => KeyUsageFacts | undefined,
  policies: RotationPolicyTable,
  settings: PermissionAuditSettings,
): PermissionFinding[] {
  const window = reportUsageWindow(settings);
  const findings: PermissionFinding[] = [];
  for (const key of keys) {
    const { record } = key;
    if (!takesQuotaSlot(record.status, record.expiresAt, settings.now)) continue;
    const found = (kind: PermissionFindingKind, summary: string, evidence: FindingEvidence): void => {
      findings.push({ kind, keyId: record.keyId, tenant: record.tenant, owner: record.owner, summary, evidence });
    };
    const usage = usageOf(record.keyId) ?? NO_USAGE;
    unusedKey(key, usage, window, found);
    unusedScopes(key, usage, window, found);
    noExpiry(key, found);
    rotationOverdue(key, policies, settings.now, found);
    noIpRestriction(key, found);
    staleSuspension(key, settings, found);
    broadAdmin(key, found);
  }
  const order = new Map(PERMISSION_FINDING_KINDS.map((kind, index) => [kind, index]));
  return findings.sort((a, b) => order.get(a.kind)! - order.get(b.kind)! || a.tenant.localeCompare(b.tenant) || a.keyId.localeCompare(b.keyId));
}

type Found = (kind: PermissionFindingKind, summary: string, evidence: FindingEvidence) => void;
type Window = ReturnType<typeof reportUsageWindow>;

/** Active, issued at least the window ago, and no VALID verification in it (a suspended key is its own finding). */
function unusedKey({ record, issuedAt }: AuditedKey, usage: KeyUsageFacts, window: Window, found: Found): void {
  if (record.status !== 'active' || issuedAt > window.since || usage.validCalls > 0) return;
  const searchedSince = Math.max(window.since, window.retainedSince);
  found('unused-key', `no valid verification since ${iso(searchedSince)}; issued ${iso(issuedAt)}, last valid use ${isoOrNever(usage.lastValidAt)}`, {
    issuedAt: iso(issuedAt),
    searchedSince: iso(searchedSince),
    validCalls: 0,
    lastValidUseAt: isoOrNull(usage.lastValidAt),
    lastPresentedAt: isoOrNull(usage.lastPresentedAt),
  });
}

/**
 * A key in use whose scopes were not all asked for: each granted scope held for the whole window
 * that granted none of the scopes its VALID verifications asked (by the verifier's own
 * `scopeGrants`, so `orders:*` is used by a request for `orders:read`). A key with no VALID
 * verification at all is an unused key instead.
 */
function unusedScopes({ record, timeline }: AuditedKey, usage: KeyUsageFacts, window: Window, found: Found): void {
  if (record.status !== 'active' || usage.validCalls === 0) return;
  const unused = record.scopes.filter((scope) => {
    const heldSince = timeline.scopesHeldSince.get(scope);
    return heldSince !== undefined && heldSince <= window.since && !usage.requestedScopes.some((requested) => scopeGrants(scope, requested));
  });
  if (unused.length === 0) return;
  const requested = [...usage.requestedScopes].sort();
  found('unused-scopes', `${unused.join(' ')} not asked for by ${usage.validCalls} valid verification(s) since ${iso(window.since)} (asked: ${requested.join(' ') || 'none'})`, {
    unusedScopes: unused,
    grantedScopes: record.scopes,
    requestedScopes: requested,
    validCalls: usage.validCalls,
    since: iso(window.since),
  });
}

function noExpiry({ record, issuedAt }: AuditedKey, found: Found): void {
  if (record.expiresAt !== undefined) return;
  found('no-expiry', `never expires; issued ${iso(issuedAt)}`, { issuedAt: iso(issuedAt), status: record.status });
}

/**
 * Past its rotation policy's maximum age by the rotator's own rule (`rotationDueAt`, without the
 * rotator's jitter: due at the maximum age itself). Admin keys are never rotated by schedule, so
 * theirs waits for a person.
 */
function rotationOverdue({ record, issuedAt }: AuditedKey, policies: RotationPolicyTable, now: number, found: Found): void {
  const policy = effectivePolicy(policies, record.tenant, record.owner);
  const dueAt = rotationDueAt(record, issuedAt, policy, 0, now);
  if (dueAt === undefined || dueAt > now || policy.maxAgeMs === null) return;
  const bySchedule = !isAdminKey(record);
  found('rotation-overdue', `due for rotation since ${iso(dueAt)} (maximum age ${days(policy.maxAgeMs)} days, issued ${iso(issuedAt)})${bySchedule ? '' : '; an admin key, rotated only by a person'}`, {
    issuedAt: iso(issuedAt),
    dueAt: iso(dueAt),
    maxAgeMs: policy.maxAgeMs,
    overdueDays: days(now - dueAt),
    rotatedBySchedule: bySchedule,
  });
}

function noIpRestriction({ record }: AuditedKey, found: Found): void {
  if (record.ipAllowlist.length > 0) return;
  found('no-ip-restriction', 'accepted from any address (no IP allowlist)', { ipAllowlist: [] });
}

/** Suspended (and not expired) for more than `staleSuspendedDays`. */
function staleSuspension({ record, timeline }: AuditedKey, settings: PermissionAuditSettings, found: Found): void {
  if (statusAt(record.status, record.expiresAt, settings.now) !== 'suspended' || timeline.suspendedAt === undefined) return;
  const suspendedFor = settings.now - timeline.suspendedAt;
  if (suspendedFor <= settings.staleSuspendedDays * DAY) return;
  found('stale-suspension', `suspended since ${iso(timeline.suspendedAt)} (${days(suspendedFor)} days)`, {
    suspendedAt: iso(timeline.suspendedAt),
    suspendedDays: days(suspendedFor),
  });
}

/** An admin key holding every admin right (`keyledger:*`), or acting on every tenant (a key of the root tenant). */
function broadAdmin({ record }: AuditedKey, found: Found): void {
  if (!isAdminKey(record)) return;
  const reasons = [...(record.scopes.includes(ADMIN_WILDCARD) ? [ADMIN_WILDCARD] : []), ...(record.tenant === ROOT_TENANT ? ['cross-tenant'] : [])];
  if (reasons.length === 0) return;
  found('broad-admin', `admin key with ${reasons.join(' and ')}`, { reasons, adminScopes: record.scopes.filter(isAdminScope) });
}

function iso(at: number): string {
  return new Date(at).toISOString();
}

function isoOrNull(at: number | undefined): string | null {
  return at === undefined ? null : iso(at);
}

function isoOrNever(at: number | undefined): string {
  return at === undefined ? 'none retained' : iso(at);
}

/** Whole days, rounded down. */
function days(ms: number): number {
  return Math.floor(ms / DAY);
}
