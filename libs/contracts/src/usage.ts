import { z } from 'zod';
import { VERIFY_CODES } from './key-api.js';
import { keyIdSchema, tenantIdSchema } from './key-events.js';

/**
 * Usage records: one `KeyUsed` per verification, whatever its outcome, published by the
 * verifiers in batches on the usage stream and stored by the auditor. Version 1; a field is
 * only ever added (as optional) within a version.
 *
 * A record never holds a presented key: a found key is named by its id, an unknown or
 * malformed one by a keyed, non-reversible fingerprint (see `KeyFingerprints` in
 * libs/key-secrets), and a request without any key by neither.
 */
export const USAGE_SCHEMA_VERSION = 1;

/** The transports a verification arrives by. */
export const USAGE_TRANSPORTS = ['http', 'nats', 'grpc'] as const;
export type UsageTransport = (typeof USAGE_TRANSPORTS)[number];

/** Longest values a record keeps; the verifier truncates longer input before recording it. */
export const USAGE_LIMITS = { ip: 64, scopes: 32, scope: 200, instance: 200 } as const;

/**
 * An instant in ms since the epoch, up to the last of year 9999: what a Postgres date and
 * an ISO 8601 string both hold, so a record from a clock gone wild is refused when parsed
 * instead of failing its whole ingest at every retry.
 */
const epochMs = z
  .number()
  .int()
  .min(0)
  .max(Date.UTC(9999, 11, 31, 23, 59, 59, 999));

/** 16 hex digits: 64 bits of a keyed PRF of the presented string. */
export const usageFingerprintSchema = z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits');

// Postgres text cannot hold NUL; a record that could not be stored would poison its batch.
const storable = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\u0000]*$/, 'must not contain NUL');

export const keyUsedSchema = z
  .object({
    /** The key, when the presented string named a known key. */
    keyId: keyIdSchema.optional(),
    /** For a presented string that named no key (unknown or malformed). */
    fingerprint: usageFingerprintSchema.optional(),
    /** The key's tenant; for an unknown key, the tenant the caller asked for, if any. */
    tenant: tenantIdSchema.optional(),
    /** When the verification was answered, in milliseconds since the epoch (the verifier's clock). */
    at: epochMs,
    /** The caller's address as the transport gave it (not validated: it is what was asked). */
    ip: storable(USAGE_LIMITS.ip).optional(),
    /** The scopes (the resource) the caller asked for. */
    scopes: z.array(storable(USAGE_LIMITS.scope)).max(USAGE_LIMITS.scopes),
    code: z.enum(VERIFY_CODES),
    /** Credits charged for the call: 0 when none (quotas fill it in). */
    cost: z.number().int().min(0).max(2_147_483_647),
    transport: z.enum(USAGE_TRANSPORTS),
  })
  .strict()
  .refine((record) => !(record.keyId && record.fingerprint), 'a record names a key by id or by fingerprint, not both');

/** One verification as recorded (without the instance, which its batch carries). */
export type KeyUsed = z.infer<typeof keyUsedSchema>;

/** Usage batch ids: `ub_` and a time-ordered body, as `newPrefixedId('ub')` makes them. */
export const usageBatchIdSchema = z.string().regex(/^ub_[0-9a-hjkmnp-tv-z]{26}$/, 'not a usage batch id');

/** Most records in one batch message. */
export const MAX_USAGE_BATCH_RECORDS = 10_000;

/**
 * What a verifier publishes: its records of a few hundred milliseconds. `batchId` is the
 * message's `Nats-Msg-Id` (a retried publish is dropped by JetStream) and the auditor's
 * idempotency key (a redelivered batch is stored once).
 */
export const usageBatchSchema = z
  .object({
    schemaVersion: z.literal(USAGE_SCHEMA_VERSION),
    batchId: usageBatchIdSchema,
    /** The verifier instance that answered every verification of the batch. */
    instance: storable(USAGE_LIMITS.instance).min(1),
    /** When the batch was formed, ms since the epoch; a retry carries the same value. */
    createdAt: epochMs,
    records: z.array(keyUsedSchema).min(1).max(MAX_USAGE_BATCH_RECORDS),
  })
  .strict();

export type UsageBatch = z.infer<typeof usageBatchSchema>;

// --- Queries (auditor): `<prefix>.v1.usage.key`, `<prefix>.v1.usage.tenant`, gRPC UsageService ---

export const USAGE_GRANULARITIES = ['minute', 'hour', 'day'] as const;
export type UsageGranularity = (typeof USAGE_GRANULARITIES)[number];

const instant = z.iso.datetime({ offset: true });

export const keyUsageRequestSchema = z
  .object({
    keyId: keyIdSchema,
    /** Start of the window (inclusive); default: 24 hours before `until`. */
    since: instant.optional(),
    /** End of the window (exclusive); default: now. */
    until: instant.optional(),
    by: z.enum(USAGE_GRANULARITIES).default('hour'),
  })
  .strict();

export const tenantUsageRequestSchema = z
  .object({
    tenant: tenantIdSchema,
    since: instant.optional(),
    until: instant.optional(),
    /** How many keys and source addresses to list. */
    limit: z.number().int().min(1).max(100).default(10),
  })
  .strict();

export type KeyUsageRequest = z.infer<typeof keyUsageRequestSchema>;
export type TenantUsageRequest = z.infer<typeof tenantUsageRequestSchema>;

/** Calls in a window: all of them, the VALID ones, the others, and the credits charged. */
export interface UsageTotals {
  readonly calls: number;
  readonly valid: number;
  readonly invalid: number;
  readonly cost: number;
}

export interface UsageBucket extends UsageTotals {
  /** Start of the minute, hour or day (UTC), ISO 8601. */
  readonly start: string;
  /** Calls by verify code, only the codes that occurred. */
  readonly codes: Readonly<Partial<Record<(typeof VERIFY_CODES)[number], number>>>;
}

export interface SourceUsage {
  /** The caller's address as recorded; '' when the transport gave none. */
  readonly ip: string;
  readonly calls: number;
  readonly invalid: number;
}

export interface KeyUsage {
  readonly keyId: string;
  readonly tenant: string | null;
  readonly since: string;
  readonly until: string;
  readonly by: UsageGranularity;
  readonly totals: UsageTotals;
  /** Every bucket of the window that had calls, oldest first. */
  readonly buckets: readonly UsageBucket[];
  /** When the key was last verified, whatever the window; null if never. */
  readonly lastUsedAt: string | null;
  readonly topSources: readonly SourceUsage[];
}

export interface KeyUsageSummary extends UsageTotals {
  readonly keyId: string;
  readonly lastUsedAt: string | null;
}

export interface TenantUsage {
  readonly tenant: string;
  readonly since: string;
  readonly until: string;
  readonly totals: UsageTotals;
  /** The tenant's keys by calls in the window, most first. */
  readonly topKeys: readonly KeyUsageSummary[];
  /** Source addresses by calls in the window, most first, unknown keys included. */
  readonly topSources: readonly SourceUsage[];
}
