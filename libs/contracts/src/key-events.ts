import { z } from 'zod';

/**
 * The data of every key event, version 1. Events are the contract between services and
 * the audit trail: a field is only ever added (as optional) within a schema version.
 * No event ever carries a key's plaintext: only its HMAC digest and a display hint.
 */
/** A tenant id: 1-63 lowercase letters, digits and dashes, not starting with a dash. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const tenantIdSchema = z.string().regex(TENANT_ID_PATTERN, 'tenant ids are lowercase letters, digits and dashes');
export const keyIdSchema = z.string().regex(/^key_[0-9a-hjkmnp-tv-z]{26}$/, 'not a key id');
export const ownerSchema = z.string().min(1).max(200);
export const keyNameSchema = z.string().min(1).max(200);
export const keyEnvironmentSchema = z.enum(['live', 'test']);
export const keyMetadataSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'metadata keys are 1-64 letters, digits, _ . -'), z.string().max(512))
  .refine((value) => Object.keys(value).length <= 32, 'at most 32 metadata entries');

/** How the key is stored: HMAC-SHA256 under a versioned server-side pepper. */
export const keyDigestSchema = z
  .object({
    algorithm: z.literal('hmac-sha256'),
    pepperVersion: z.number().int().positive(),
    digest: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
export type KeyDigest = z.infer<typeof keyDigestSchema>;

const isoInstant = z.iso.datetime({ offset: true });

/** Longest rate-limit window: 31 days. */
export const MAX_RATE_LIMIT_WINDOW_MS = 31 * 24 * 3600 * 1000;

/** At most `limit` verifications per `windowMs` (fixed windows aligned to the epoch). */
export const rateLimitSchema = z
  .object({
    limit: z.number().int().min(1).max(1_000_000_000),
    windowMs: z.number().int().min(1000).max(MAX_RATE_LIMIT_WINDOW_MS),
  })
  .strict();
export type RateLimit = z.infer<typeof rateLimitSchema>;
export const rateLimitsSchema = z.array(rateLimitSchema).max(5);

/** Largest credit balance, top-up or refill amount. */
export const MAX_CREDITS = 1_000_000_000;

/**
 * How a key's credits come back: at each UTC midnight (daily) or at 00:00 UTC on
 * `dayOfMonth` (monthly, default 1) the balance becomes `amount`.
 */
export const creditRefillSchema = z
  .object({
    amount: z.number().int().min(0).max(MAX_CREDITS),
    interval: z.enum(['daily', 'monthly']),
    dayOfMonth: z.number().int().min(1).max(28).optional(),
  })
  .strict();
export type CreditRefill = z.infer<typeof creditRefillSchema>;

/** A key's quota as a command sets it: the balance now, and how it refills. */
export const creditsSettingSchema = z
  .object({
    remaining: z.number().int().min(0).max(MAX_CREDITS),
    refill: creditRefillSchema.optional(),
  })
  .strict();
export type CreditsSetting = z.infer<typeof creditsSettingSchema>;

/** A quota as events record it: the balance of the period starting at `periodStart` (epoch ms; 0 without refill). */
export const recordedCreditsSchema = creditsSettingSchema.extend({ periodStart: z.number().int().min(0) }).strict();
export type RecordedCredits = z.infer<typeof recordedCreditsSchema>;

export const keyIssuedSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    owner: ownerSchema,
    name: keyNameSchema.optional(),
    environment: keyEnvironmentSchema,
    prefix: z.string(),
    digest: keyDigestSchema,
    hint: z.string().max(40),
    scopes: z.array(z.string()),
    ipAllowlist: z.array(z.string()),
    expiresAt: isoInstant.optional(),
    metadata: keyMetadataSchema,
    /** Added in the usage release; absent means no rate limit. */
    rateLimits: rateLimitsSchema.optional(),
    /** Added in the usage release; absent means no quota. */
    credits: recordedCreditsSchema.optional(),
    /** Added in the rotation release: the key this one replaces (its stream holds the KeyRotated). */
    rotatedFrom: keyIdSchema.optional(),
    /**
     * Added in the honeytoken release: a key issued never to be used. Every verification of it
     * answers NOT_FOUND, as for a key that does not exist, and is reported as a critical anomaly.
     */
    honeytoken: z.literal(true).optional(),
  })
  .strict();

export const keyUpdatedSchema = z
  .object({
    keyId: keyIdSchema,
    name: keyNameSchema.optional(),
    scopes: z.array(z.string()).optional(),
    ipAllowlist: z.array(z.string()).optional(),
    metadata: keyMetadataSchema.optional(),
    /** null removes the expiry. */
    expiresAt: isoInstant.nullable().optional(),
    /** Replaces every rate limit; [] removes them. */
    rateLimits: rateLimitsSchema.optional(),
    /** Sets the quota and its balance for the current period; null removes it. */
    credits: recordedCreditsSchema.nullable().optional(),
  })
  .strict();

export const keySuspendedSchema = z.object({ keyId: keyIdSchema, reason: z.string().max(500).optional() }).strict();
export const keyResumedSchema = z.object({ keyId: keyIdSchema }).strict();
export const keyRevokedSchema = z.object({ keyId: keyIdSchema, reason: z.string().min(1).max(500) }).strict();
/** Credits added to the balance of the period starting at `periodStart`. */
export const keyCreditsToppedUpSchema = z
  .object({ keyId: keyIdSchema, amount: z.number().int().min(1).max(MAX_CREDITS), periodStart: z.number().int().min(0) })
  .strict();

/** Shortest maximum key age a rotation policy may set: 1 s (tests use seconds; real policies days). */
export const MIN_ROTATION_MAX_AGE_MS = 1000;
/** Longest grace period a rotation may give the old key: 90 days. */
export const MAX_ROTATION_GRACE_MS = 90 * 24 * 3600 * 1000;
/** Shortest quiet period (1 s, for tests; real ones are minutes to hours) and the longest (the longest grace). */
export const MIN_QUIET_PERIOD_MS = 1000;
export const MAX_QUIET_PERIOD_MS = MAX_ROTATION_GRACE_MS;

/**
 * The key `keyId` is replaced by `replacedBy` and stays valid until `graceEndsAt` (then it
 * reads as expired). Recorded on the old key's stream before the new key's KeyIssued: it is
 * what makes a rotation happen once (optimistic concurrency on the old key's version). An
 * emergency rotation records it with a KeyRevoked in the same append.
 */
export const keyRotatedSchema = z
  .object({
    keyId: keyIdSchema,
    replacedBy: keyIdSchema,
    graceEndsAt: isoInstant,
    emergency: z.boolean().optional(),
    /** Added in the quiet-grace release: when the rotation was decided (the command's clock). */
    rotatedAt: isoInstant.optional(),
    /**
     * Added in the quiet-grace release: the quiet period that applied at rotation time. Once the
     * old key has not been used for this long, its grace may end early (KeyGraceEnded). Recorded
     * here so a later policy change does not re-interpret earlier rotations; absent: the grace
     * runs its full length.
     */
    quietPeriodMs: z.number().int().min(MIN_QUIET_PERIOD_MS).max(MAX_QUIET_PERIOD_MS).optional(),
  })
  .strict();

/** Why a grace ended before its recorded end: `quiet`, the old key had no traffic for the quiet period. */
export const GRACE_END_REASONS = ['quiet'] as const;
export type GraceEndReason = (typeof GRACE_END_REASONS)[number];

/**
 * The grace of the rotated key `keyId` ended at `endedAt`, before its recorded `graceEndsAt`:
 * the key reads as expired from then on. Appended on the old key's stream at the version read
 * (so two rotator replicas record it once), with the evidence it was decided on: the quiet
 * period, the key's last recorded use (absent: never used) and the instant up to which the
 * auditor had ingested all usage.
 */
export const keyGraceEndedSchema = z
  .object({
    keyId: keyIdSchema,
    endedAt: isoInstant,
    reason: z.enum(GRACE_END_REASONS),
    quietPeriodMs: z.number().int().min(MIN_QUIET_PERIOD_MS).max(MAX_QUIET_PERIOD_MS),
    lastUsedAt: isoInstant.optional(),
    usageIngestedUntil: isoInstant,
  })
  .strict();

/**
 * A tenant's rotation policy (without `owner`) or one owner's within the tenant, on the
 * tenant's stream `tenant-<tenant>`. It replaces the policy at that level; a null field is
 * not set there and falls back to the tenant's, then to the installation's default.
 */
export const rotationPolicySetSchema = z
  .object({
    tenant: tenantIdSchema,
    owner: ownerSchema.optional(),
    /** Keys older than this are rotated by the rotator; null: never by age. */
    maxAgeMs: z.number().int().min(MIN_ROTATION_MAX_AGE_MS).max(Number.MAX_SAFE_INTEGER).nullable(),
    /** Grace of the rotations the rotator makes; null: the installation's default. */
    graceMs: z.number().int().min(0).max(MAX_ROTATION_GRACE_MS).nullable(),
    /**
     * Added in the quiet-grace release: a rotated key unused for this long loses the rest of its
     * grace; null or absent: not set here (the grace runs its full length unless the tenant sets one).
     */
    quietPeriodMs: z.number().int().min(MIN_QUIET_PERIOD_MS).max(MAX_QUIET_PERIOD_MS).nullable().optional(),
  })
  .strict();
export type RotationPolicySetData = z.infer<typeof rotationPolicySetSchema>;

/** Base64 of the raw 32 bytes of an X25519 public key, the one form the store keeps. */
export const x25519PublicKeySchema = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'not base64 of 32 bytes');

/**
 * An owner's X25519 public key, on the tenant's stream `tenant-<tenant>`: new keys of the
 * owner are delivered sealed to the latest one registered.
 */
export const ownerPublicKeyRegisteredSchema = z
  .object({
    tenant: tenantIdSchema,
    owner: ownerSchema,
    publicKey: x25519PublicKeySchema,
  })
  .strict();
export type OwnerPublicKeyRegisteredData = z.infer<typeof ownerPublicKeyRegisteredSchema>;

/**
 * A new key was sealed to its owner's public key and handed to delivery: the first event of
 * the stream `delivery-<keyId>` (appended once). Since the acknowledgement release the sealed
 * copy is kept for redelivery until a KeyDeliveryAcknowledged or a KeyDeliveryExpired ends
 * the delivery. Neither the key nor the envelope is in it.
 */
export const keyDeliveredSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    owner: ownerSchema,
    /** The owner public key it was sealed to (base64, raw 32 bytes). */
    publicKey: x25519PublicKeySchema,
    at: isoInstant,
    /** Added in the acknowledgement release: SHA-256 (hex) of the ack token sealed with the key. */
    ackTokenHash: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    /** Added in the acknowledgement release: when redelivery stops and the sealed copy is deleted. */
    expiresAt: isoInstant.optional(),
    /** Added in the acknowledgement release: where it is delivered (`nats`, and `webhook` for an owner with one). */
    channels: z
      .array(z.enum(['nats', 'webhook']))
      .max(2)
      .optional(),
  })
  .strict();
export type KeyDeliveredData = z.infer<typeof keyDeliveredSchema>;

/**
 * What one verifier admitted since its previous flush, in its own stream `credits-<instance>`:
 * `[key id, period start, credits]`, one entry per key and period.
 */
export const creditsConsumedSchema = z
  .object({
    entries: z.array(z.tuple([keyIdSchema, z.number().int().min(0), z.number().int().min(1).max(MAX_CREDITS)])).max(10_000),
  })
  .strict();
export type CreditsConsumedData = z.infer<typeof creditsConsumedSchema>;

export type KeyIssuedData = z.infer<typeof keyIssuedSchema>;
export type KeyUpdatedData = z.infer<typeof keyUpdatedSchema>;
export type KeySuspendedData = z.infer<typeof keySuspendedSchema>;
export type KeyResumedData = z.infer<typeof keyResumedSchema>;
export type KeyRevokedData = z.infer<typeof keyRevokedSchema>;
export type KeyCreditsToppedUpData = z.infer<typeof keyCreditsToppedUpSchema>;
export type KeyRotatedData = z.infer<typeof keyRotatedSchema>;
export type KeyGraceEndedData = z.infer<typeof keyGraceEndedSchema>;
