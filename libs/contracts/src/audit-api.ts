import { z } from 'zod';
import { eventIdSchema } from './event-envelope.js';
import { EVENT_TYPES } from './event-types.js';
import { keyEnvironmentSchema, keyIdSchema, ownerSchema, tenantIdSchema } from './key-events.js';
import type { KeyView, VerifyCode } from './key-api.js';

/**
 * The auditor's transparency log over NATS (`<prefix>.v1.audit.checkpoint`, `audit.inclusion`,
 * `audit.consistency`) and HTTP (`GET /v1/audit/checkpoint`, `/v1/audit/inclusion`,
 * `/v1/audit/consistency`), and gRPC (keyledger.v1.AuditService). Every answer holds hashes and signed checkpoints only, never an
 * event's content: whoever asks about an event already holds it and recomputes its leaf.
 * Hashes are base64; a checkpoint is its C2SP signed note, as text.
 */

const treeSize = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const position = z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a positive decimal event position');

/** The latest checkpoint; with `refresh`, the tree is first brought up to the store and a checkpoint signed if it grew. */
export const auditCheckpointRequestSchema = z.object({ refresh: z.boolean().optional() }).strict();

/** The inclusion proof of one event, by id or by position, in the checkpoint of `treeSize` (default: the latest). */
export const auditInclusionRequestSchema = z
  .object({ eventId: eventIdSchema.optional(), position: position.optional(), treeSize: treeSize.optional() })
  .strict()
  .refine((request) => (request.eventId === undefined) !== (request.position === undefined), { message: 'give exactly one of eventId and position' });

/** The consistency proof between the trees of `oldSize` and `newSize` leaves (newSize at most the latest checkpoint's). */
export const auditConsistencyRequestSchema = z
  .object({ oldSize: treeSize, newSize: treeSize })
  .strict()
  .refine((request) => request.oldSize <= request.newSize, { message: 'oldSize must not exceed newSize', path: ['oldSize'] });

export type AuditInclusionRequest = z.infer<typeof auditInclusionRequestSchema>;
export type AuditConsistencyRequest = z.infer<typeof auditConsistencyRequestSchema>;

export interface AuditCheckpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly signedAt: string;
  /** The signed note (c2sp.org/tlog-checkpoint). */
  readonly note: string;
}

export interface AuditInclusionProof {
  readonly eventId: string;
  readonly position: string;
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: string;
  readonly proof: readonly string[];
  /** The signed checkpoint the proof leads to. */
  readonly checkpoint: string;
}

export interface AuditConsistencyProof {
  readonly oldSize: number;
  readonly newSize: number;
  readonly proof: readonly string[];
  /** The signed checkpoints of those sizes, when the log signed one of that size. */
  readonly oldCheckpoint?: string | undefined;
  readonly newCheckpoint?: string | undefined;
}

// --- A key's history (auditor): `<prefix>.v1.audit.trail`, `audit.at`, `audit.check`, with an admin key; gRPC AuditService ---

const instant = z.iso.datetime({ offset: true });

/** Every event of one key's stream, in order. */
export const auditTrailRequestSchema = z.object({ keyId: keyIdSchema }).strict();

/** The key as it was at `at`: its events that occurred at or before that instant, folded. */
export const auditAtRequestSchema = z.object({ keyId: keyIdSchema, at: instant }).strict();

/** Whether a verification at `at` with these conditions would have been accepted by the key's own rules. */
export const auditCheckRequestSchema = z
  .object({
    keyId: keyIdSchema,
    at: instant,
    scopes: z.array(z.string().max(200)).max(100).optional(),
    ip: z.string().max(64).optional(),
    env: keyEnvironmentSchema.optional(),
  })
  .strict();

/** Where a page of search results ends: `<transaction id>:<position>` of its last event. */
const searchCursorSchema = z.string().regex(/^\d{1,20}:\d{1,20}$/, 'a cursor is the nextCursor of the page before');

/**
 * The trail of every stream, filtered, in store order, a page at a time. `tenant` is required
 * of every admin but root's; without it root searches every tenant.
 */
export const auditSearchRequestSchema = z
  .object({
    tenant: tenantIdSchema.optional(),
    owner: ownerSchema.optional(),
    actor: z.string().min(1).max(200).optional(),
    type: z
      .array(z.string().refine((type) => EVENT_TYPES.has(type), { message: 'not an event type Keyledger records' }))
      .min(1)
      .max(20)
      .optional(),
    since: instant.optional(),
    until: instant.optional(),
    cursor: searchCursorSchema.optional(),
    limit: z.number().int().min(1).max(500).default(100),
  })
  .strict();

export type AuditSearchRequest = z.input<typeof auditSearchRequestSchema>;

/** One event found: its trail entry, the stream it belongs to, and the tenant and owner of that stream. */
export interface AuditSearchEntry extends AuditTrailEntry {
  readonly streamId: string;
  readonly tenant: string | null;
  readonly owner: string | null;
}

export interface AuditSearchPage {
  readonly events: readonly AuditSearchEntry[];
  /** Present when more events may follow: pass it as `cursor`. */
  readonly nextCursor?: string;
}

export type AuditTrailRequest = z.infer<typeof auditTrailRequestSchema>;
export type AuditAtRequest = z.infer<typeof auditAtRequestSchema>;
export type AuditCheckRequest = z.infer<typeof auditCheckRequestSchema>;

/** One event of a key's trail: what happened, when, and who did it (the event's metadata). */
export interface AuditTrailEntry {
  readonly position: string;
  readonly version: number;
  readonly eventId: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly actor: string;
  readonly correlationId: string;
}

export interface AuditTrail {
  readonly keyId: string;
  readonly tenant: string;
  readonly events: readonly AuditTrailEntry[];
}

export interface AuditKeyAt {
  readonly keyId: string;
  readonly at: string;
  /** The key as it was then; null when it was not issued yet. */
  readonly key: KeyView | null;
  /** The last event folded into it. */
  readonly lastEvent: AuditTrailEntry | null;
}

export interface AuditCheck {
  readonly keyId: string;
  readonly at: string;
  readonly valid: boolean;
  /** The code a verifier would have answered by the key's rules (rate limits and quotas aside). */
  readonly code: VerifyCode;
  /** Why, in words: "revoked at …, by event …". */
  readonly reason: string;
  /** The event that set what decided it (the revocation, the suspension, the allowlist…); null for a key not issued yet. */
  readonly decidedBy: AuditTrailEntry | null;
}

// --- The permission audit (auditor): `<prefix>.v1.audit.report`, with an admin key; gRPC AuditService/GetPermissionReport ---

const days = z.number().int().min(1).max(3650);

/**
 * Findings about a tenant's keys: unused keys and scopes, no expiry, rotation overdue, no IP
 * restriction, long suspensions, broad admin keys. Without `tenant`, the caller's own tenant (every
 * tenant for an admin of the root tenant).
 */
export const auditReportRequestSchema = z
  .object({
    tenant: tenantIdSchema.optional(),
    unusedDays: days.default(90),
    staleSuspendedDays: days.default(30),
  })
  .strict();

export type AuditReportRequest = z.infer<typeof auditReportRequestSchema>;

/** Every kind of finding, in the order a report lists them. */
export const PERMISSION_FINDING_KINDS = [
  'unused-key',
  'unused-scopes',
  'no-expiry',
  'rotation-overdue',
  'no-ip-restriction',
  'stale-suspension',
  'broad-admin',
] as const;
export type PermissionFindingKind = (typeof PERMISSION_FINDING_KINDS)[number];

/** What a finding rests on: instants as ISO 8601, counts, scopes. */
export type FindingEvidence = Readonly<Record<string, string | number | boolean | null | readonly string[]>>;

export interface PermissionFinding {
  readonly kind: PermissionFindingKind;
  readonly keyId: string;
  readonly tenant: string;
  readonly owner: string;
  /** The evidence in words, for a person. */
  readonly summary: string;
  readonly evidence: FindingEvidence;
}

/** How far back the usage the findings rest on goes. */
export interface ReportUsageWindow {
  /** Start of the unused-days window. */
  readonly since: string;
  /** The oldest usage still kept (USAGE_RETENTION_DAYS before today). */
  readonly retainedSince: string;
  /** False when the window starts before retention: the usage-based findings rest on the retained part only. */
  readonly complete: boolean;
}

export interface AuditReport {
  readonly generatedAt: string;
  /** The tenant reported on; null for every tenant (a root admin's report). */
  readonly tenant: string | null;
  readonly unusedDays: number;
  readonly staleSuspendedDays: number;
  readonly usage: ReportUsageWindow;
  readonly findings: readonly PermissionFinding[];
}
