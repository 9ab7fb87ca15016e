import { z } from 'zod';
import type { CreditRefill, RateLimit } from './key-events.js';
import {
  MAX_CREDITS,
  MAX_QUIET_PERIOD_MS,
  MAX_ROTATION_GRACE_MS,
  MIN_QUIET_PERIOD_MS,
  MIN_ROTATION_MAX_AGE_MS,
  creditsSettingSchema,
  keyEnvironmentSchema,
  keyIdSchema,
  keyMetadataSchema,
  keyNameSchema,
  ownerSchema,
  rateLimitsSchema,
  tenantIdSchema,
} from './key-events.js';

/**
 * Request bodies of the key API, the same over NATS, gRPC and the CLI. Validated at every
 * boundary; unknown fields are refused so a typo is an error, not a silent no-op.
 */
const expiry = z.union([z.iso.datetime({ offset: true }), z.null()]);
const scopeList = z.array(z.string().max(200)).max(100);
const allowlist = z.array(z.string().max(64)).max(100);

export const issueKeyRequestSchema = z
  .object({
    tenant: tenantIdSchema,
    owner: ownerSchema,
    name: keyNameSchema.optional(),
    environment: keyEnvironmentSchema.default('live'),
    scopes: scopeList.default([]),
    ipAllowlist: allowlist.default([]),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    metadata: keyMetadataSchema.default({}),
    rateLimits: rateLimitsSchema.default([]),
    credits: creditsSettingSchema.optional(),
    /** A key never to be used (docs/api.md#honeytokens): every verification answers NOT_FOUND and is reported as a critical anomaly. */
    honeytoken: z.boolean().optional(),
  })
  .strict();

export const updateKeyRequestSchema = z
  .object({
    keyId: keyIdSchema,
    name: keyNameSchema.optional(),
    scopes: scopeList.optional(),
    ipAllowlist: allowlist.optional(),
    metadata: keyMetadataSchema.optional(),
    expiresAt: expiry.optional(),
    rateLimits: rateLimitsSchema.optional(),
    /** Sets the quota and the balance for the current period; null removes the quota. */
    credits: creditsSettingSchema.nullable().optional(),
  })
  .strict();

export const topUpKeyRequestSchema = z.object({ keyId: keyIdSchema, amount: z.number().int().min(1).max(MAX_CREDITS) }).strict();

export const keyIdRequestSchema = z.object({ keyId: keyIdSchema }).strict();
export const suspendKeyRequestSchema = z.object({ keyId: keyIdSchema, reason: z.string().min(1).max(500).optional() }).strict();
export const revokeKeyRequestSchema = z
  .object({
    keyId: keyIdSchema,
    reason: z.string().min(1).max(500),
    /** Answer only once every live verifier rejects the key (or the fence times out). */
    waitForVerifiers: z.boolean().default(true),
  })
  .strict();
/**
 * Replace a key by a new one with the same settings, changed by the fields given. The old key
 * stays valid for `graceMs` (default: the installation's); `emergency` revokes it at once.
 */
export const rotateKeyRequestSchema = z
  .object({
    keyId: keyIdSchema,
    graceMs: z.number().int().min(0).max(MAX_ROTATION_GRACE_MS).optional(),
    /** The old key's grace ends early once it is unused this long; absent: the rotation policy's; null: none. */
    quietPeriodMs: z.number().int().min(MIN_QUIET_PERIOD_MS).max(MAX_QUIET_PERIOD_MS).nullable().optional(),
    emergency: z.boolean().default(false),
    /** With emergency: answer only once every live verifier rejects the old key. */
    waitForVerifiers: z.boolean().default(true),
    name: keyNameSchema.optional(),
    scopes: scopeList.optional(),
    ipAllowlist: allowlist.optional(),
    metadata: keyMetadataSchema.optional(),
    expiresAt: expiry.optional(),
    rateLimits: rateLimitsSchema.optional(),
    credits: creditsSettingSchema.nullable().optional(),
  })
  .strict()
  .refine((request) => !(request.emergency && request.graceMs !== undefined && request.graceMs > 0), 'an emergency rotation has no grace period')
  .refine((request) => !(request.emergency && typeof request.quietPeriodMs === 'number'), 'an emergency rotation has no grace period to end early');
/** Sets the rotation policy of a tenant, or of one owner in it; a field left out or null is not set at that level. */
export const setRotationPolicyRequestSchema = z
  .object({
    tenant: tenantIdSchema,
    owner: ownerSchema.optional(),
    maxAgeMs: z.number().int().min(MIN_ROTATION_MAX_AGE_MS).max(Number.MAX_SAFE_INTEGER).nullable().default(null),
    graceMs: z.number().int().min(0).max(MAX_ROTATION_GRACE_MS).nullable().default(null),
    /** Absent or null: not set at this level. */
    quietPeriodMs: z.number().int().min(MIN_QUIET_PERIOD_MS).max(MAX_QUIET_PERIOD_MS).nullable().optional(),
  })
  .strict();
export const getRotationPolicyRequestSchema = z.object({ tenant: tenantIdSchema, owner: ownerSchema.optional() }).strict();
export type SetRotationPolicyRequest = z.infer<typeof setRotationPolicyRequestSchema>;
export type GetRotationPolicyRequest = z.infer<typeof getRotationPolicyRequestSchema>;

/** A policy's settings; null: not set. */
export interface RotationPolicySettings {
  readonly maxAgeMs: number | null;
  readonly graceMs: number | null;
  /** A rotated key unused this long loses the rest of its grace; null: its grace runs its full length. */
  readonly quietPeriodMs: number | null;
}

/** A rotation policy as the API shows it: what is set at this level, and what applies to keys there. */
export interface RotationPolicyView {
  readonly tenant: string;
  readonly owner: string | null;
  readonly policy: RotationPolicySettings;
  /** The owner's settings, else the tenant's; a null grace means the installation's default. */
  readonly effective: RotationPolicySettings;
}

/** Registers an owner's X25519 public key: base64 of the raw 32 bytes, or PEM (SPKI). */
export const registerOwnerPublicKeyRequestSchema = z.object({ tenant: tenantIdSchema, owner: ownerSchema, publicKey: z.string().min(1).max(4096) }).strict();
export type RegisterOwnerPublicKeyRequest = z.infer<typeof registerOwnerPublicKeyRequestSchema>;

/** An owner's registered public key as the API shows it (base64 of the raw 32 bytes). */
export interface OwnerPublicKeyView {
  readonly tenant: string;
  readonly owner: string;
  readonly publicKey: string;
}

/** Keys one page of `keys.list` holds at most; a page is also cut short to stay well within a NATS message. */
export const MAX_KEYS_PER_PAGE = 500;

/**
 * One page of a tenant's keys, in key id order: `cursor` is the `nextCursor` of the page before
 * (absent: the first page); `owner` and `status` narrow the list.
 */
export const listKeysRequestSchema = z
  .object({
    tenant: tenantIdSchema,
    limit: z.number().int().min(1).max(MAX_KEYS_PER_PAGE).default(100),
    cursor: keyIdSchema.optional(),
    /** Only this owner's keys. */
    owner: ownerSchema.optional(),
    /** Only keys in this status now. */
    status: z.enum(['active', 'suspended', 'revoked', 'expired']).optional(),
  })
  .strict();
export type ListKeysRequest = z.infer<typeof listKeysRequestSchema>;

/** A page of keys; `nextCursor` is present when more keys follow (pass it as `cursor`). */
export interface KeyPage {
  readonly keys: readonly KeyView[];
  readonly nextCursor?: string;
}

/** The largest cost one verification may charge. */
export const MAX_VERIFY_COST = 1000;

/** Credits one verification charges: a whole number from 0 to MAX_VERIFY_COST. */
export const verifyCostSchema = z.number().int().min(0).max(MAX_VERIFY_COST);

export const verifyKeyRequestSchema = z
  .object({
    key: z.string().max(512),
    tenant: tenantIdSchema.optional(),
    scopes: z.array(z.string().max(200)).max(100).optional(),
    ip: z.string().max(64).optional(),
    env: keyEnvironmentSchema.optional(),
    /** Credits this call consumes from a key with a quota (default 1). */
    cost: verifyCostSchema.optional(),
  })
  .strict();

/** The most verifications one `keys.verify-batch` call may carry. */
export const MAX_VERIFY_BATCH = 100;

/**
 * Many verifications in one call, for internal clients that verify keys in bulk. Only the
 * envelope is checked here: each item is a `keys.verify` request validated on its own, so one
 * bad item is answered MALFORMED in its place and the others are still verified.
 */
export const verifyBatchRequestSchema = z
  .object({
    requests: z.array(z.unknown()).min(1).max(MAX_VERIFY_BATCH),
  })
  .strict();

export type IssueKeyRequest = z.infer<typeof issueKeyRequestSchema>;
export type UpdateKeyRequest = z.infer<typeof updateKeyRequestSchema>;
export type SuspendKeyRequest = z.infer<typeof suspendKeyRequestSchema>;
export type RevokeKeyRequest = z.infer<typeof revokeKeyRequestSchema>;
export type VerifyKeyRequest = z.infer<typeof verifyKeyRequestSchema>;
export type VerifyBatchRequest = z.infer<typeof verifyBatchRequestSchema>;
export type TopUpKeyRequest = z.infer<typeof topUpKeyRequestSchema>;
export type RotateKeyRequest = z.infer<typeof rotateKeyRequestSchema>;

/** A key's quota as the API shows it: the balance now (as of the consumption verifiers have flushed) and the refill. */
export interface CreditsView {
  readonly remaining: number;
  readonly refill: CreditRefill | null;
}

/** A key as the API shows it: never its plaintext or digest. */
export interface KeyView {
  readonly keyId: string;
  readonly tenant: string;
  readonly owner: string;
  readonly name: string | null;
  readonly environment: 'live' | 'test';
  readonly hint: string;
  readonly status: 'active' | 'suspended' | 'revoked' | 'expired';
  readonly scopes: readonly string[];
  readonly ipAllowlist: readonly string[];
  readonly expiresAt: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly rateLimits: readonly RateLimit[];
  /** null for a key without a quota. */
  readonly credits: CreditsView | null;
  /** The key this one replaced, for a key issued by a rotation. */
  readonly rotatedFrom: string | null;
  /** For a rotated key: its replacement and when its grace period ends (it is then expired). */
  readonly rotation: { readonly replacedBy: string; readonly graceEndsAt: string; readonly emergency: boolean } | null;
  /** When the key was first reported leaked (ISO 8601); null for a key never reported. */
  readonly leakReportedAt: string | null;
  /** A honeytoken: a key issued never to be used, whose every verification is a critical anomaly. */
  readonly honeytoken: boolean;
  readonly version: number;
}

/**
 * Scopes of the admin plane. `keyledger:*` grants all of them. `keyledger:leaks:report` only
 * reports leaked keys by their plaintext (for scanners in CI); `keyledger:keys:write` may too.
 */
export const ADMIN_SCOPES = { read: 'keyledger:keys:read', write: 'keyledger:keys:write', reportLeaks: 'keyledger:leaks:report' } as const;
/** The tenant whose admin keys act on every tenant. */
export const ROOT_TENANT = 'root';

/**
 * Every answer a verification can give, one closed set for all transports. Expected outcomes
 * are values, not errors. RATE_LIMITED and USAGE_EXCEEDED are reserved for usage limits;
 * UNAVAILABLE is a verifier failing closed; DENIED is a caller whose network is denied
 * (SourceNetworkDenied), whatever key it presents.
 */
export const VERIFY_CODES = [
  'VALID',
  'MALFORMED',
  'NOT_FOUND',
  'REVOKED',
  'DISABLED',
  'EXPIRED',
  'FORBIDDEN',
  'INSUFFICIENT_PERMISSIONS',
  'RATE_LIMITED',
  'USAGE_EXCEEDED',
  'UNAVAILABLE',
  'DENIED',
] as const;
export type VerifyCode = (typeof VERIFY_CODES)[number];

/** The answer to "is this key valid for this, from here, now?". */
export interface VerifyResult {
  readonly valid: boolean;
  readonly code: VerifyCode;
  readonly keyId?: string;
  readonly tenant?: string;
  readonly owner?: string;
  readonly scopes?: readonly string[];
  readonly env?: string;
  readonly expiresAt?: string | null;
  readonly meta?: Readonly<Record<string, string>>;
  /** With RATE_LIMITED: when the exhausted window ends (ISO 8601). */
  readonly reset?: string;
  /** For a key with a quota: the credits left after this call, as far as this verifier knows. */
  readonly remaining?: number;
  /** With FORBIDDEN: the key's restriction the request did not meet, its IP allowlist or its environment. */
  readonly reason?: 'ip' | 'environment';
}

/** The answer to `keys.verify-batch`: one result per request, in the order asked. */
export interface VerifyBatchResult {
  readonly results: readonly VerifyResult[];
}
