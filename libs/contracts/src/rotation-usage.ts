import { z } from 'zod';
import type { GraceEndReason } from './key-events.js';
import { keyIdSchema } from './key-events.js';
import type { EventSeal } from './event-envelope.js';
import { eventSealSchema } from './event-envelope.js';

// --- The auditor's answers about rotated keys: `<prefix>.v1.usage.last-used` (internal, for the
// rotator) and `<prefix>.v1.usage.rotation` (admin), gRPC UsageService/GetRotationUsage ---

/** Most key ids one `usage.last-used` request may name. */
export const MAX_LAST_USED_KEYS = 1000;

/**
 * The last recorded use of each key, for the rotator's quiet-grace pass (no admin key: an
 * internal subject). `nonce` is fresh for each request (base64url, 16–48 bytes): the auditor's
 * seal covers it, so an answer, however genuine, to any other request does not pass for this one.
 */
export const lastUsedRequestSchema = z
  .object({
    keyIds: z.array(keyIdSchema).min(1).max(MAX_LAST_USED_KEYS),
    nonce: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/, 'must be base64url of 16 to 48 bytes'),
  })
  .strict();
export type LastUsedRequest = z.infer<typeof lastUsedRequestSchema>;

export interface LastUsedAnswer {
  /**
   * Every usage batch that reached the usage stream before this instant was stored before the
   * last uses below were read; null when the auditor cannot tell (its consumer is missing or the
   * next batch to store is gone). Usage answered later, or still in a verifier's buffer, may be missing.
   */
  readonly ingestedUntil: string | null;
  /** One entry per requested key, in request order; `lastUsedAt` null for a key never used. */
  readonly keys: readonly { readonly keyId: string; readonly lastUsedAt: string | null }[];
}

/** The validated shape of a `usage.last-used` answer, for the rotator reading it. */
export const lastUsedAnswerSchema = z
  .object({
    ingestedUntil: z.iso.datetime({ offset: true }).nullable(),
    keys: z.array(z.object({ keyId: keyIdSchema, lastUsedAt: z.iso.datetime({ offset: true }).nullable() }).strict()),
  })
  .strict();

/**
 * A `usage.last-used` answer as the auditor sends it: sealed under the event key (the version
 * and HMAC-SHA256, base64) over the answer and the request it answers (`EventAuthenticator.sealUsageAnswer`).
 */
export interface SealedLastUsedAnswer extends LastUsedAnswer {
  readonly auth: EventSeal;
}

/** The validated shape of a sealed `usage.last-used` answer; the seal itself is checked by its reader. */
export const sealedLastUsedAnswerSchema = lastUsedAnswerSchema.extend({ auth: eventSealSchema }).strict();

/** A rotation and who still uses the old key: by the old key's id, or its replacement's. */
export const rotationUsageRequestSchema = z.object({ keyId: keyIdSchema }).strict();
export type RotationUsageRequest = z.infer<typeof rotationUsageRequestSchema>;

/** One source address that used the old key since its rotation. */
export interface RotationSource {
  /** The caller's address as recorded; '' when the transport gave none. */
  readonly ip: string;
  /** Calls from the hour of the rotation on (sources are counted per hour). */
  readonly calls: number;
  readonly invalid: number;
  /** The last call from this address; null for usage stored before last-seen was recorded. */
  readonly lastSeenAt: string | null;
}

export interface RotationUsage {
  /** The rotated (old) key. */
  readonly keyId: string;
  readonly replacedBy: string;
  readonly tenant: string;
  readonly owner: string;
  readonly rotatedAt: string | null;
  /** The grace end the rotation recorded. */
  readonly graceEndsAt: string;
  readonly emergency: boolean;
  /** The quiet period recorded with the rotation; null: the grace runs its full length. */
  readonly quietPeriodMs: number | null;
  /** Set when the grace ended early (KeyGraceEnded). */
  readonly graceEnded: { readonly at: string; readonly reason: GraceEndReason; readonly lastUsedAt: string | null } | null;
  /** The old key's status now (`expired` once its grace is over). */
  readonly status: 'active' | 'suspended' | 'revoked' | 'expired';
  /** When the old key stops (or stopped) verifying: the grace end, early or not, or its own earlier expiry. */
  readonly expiresAt: string | null;
  /** The old key's last recorded use, whenever it was; null if never. */
  readonly lastUsedAt: string | null;
  /** Calls with the old key since its rotation (counted from the rotation's hour), by source, most recent first. */
  readonly sinceRotation: { readonly calls: number; readonly invalid: number; readonly sources: readonly RotationSource[] };
  /** See LastUsedAnswer: usage is complete up to about this instant. */
  readonly ingestedUntil: string | null;
}
