import { z } from 'zod';
import { VERIFY_CODES } from './key-api.js';
import { keyIdSchema, tenantIdSchema } from './key-events.js';

/**
 * Usage records: one `KeyUsed` per verification, whatever its outcome, published by the
 * verifiers in batches on the usage stream and stored by the auditor. A field is only ever
 * added (as optional) within a version.
 *
 * A record never holds a presented key: a found key is named by its id, an unknown or
 * malformed one by a keyed, non-reversible fingerprint (see `KeyFingerprints` in
 * libs/key-secrets), and a request without any key by neither.
 *
 * Batches come in two versions: 1, a list of records, and 2, the records grouped by
 * everything but their time (`usageBatchV2Schema`). The verifiers publish
 * `USAGE_SCHEMA_VERSION`; the readers decode both. Every batch message is sealed
 * (`formatUsageSeal`): the readers refuse one without a valid seal, whatever its version.
 */
export const USAGE_SCHEMA_VERSION = 2;

/** The transports a verification arrives by. */
export const USAGE_TRANSPORTS = ['http', 'nats', 'grpc'] as const;
export type UsageTransport = (typeof USAGE_TRANSPORTS)[number];

/** Longest values a record keeps; the verifier truncates longer input before recording it. */
export const USAGE_LIMITS = { ip: 64, scopes: 32, scope: 200, instance: 200 } as const;

/** The last instant a record may carry: the last millisecond of year 9999. */
const LAST_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * An instant in ms since the epoch, up to the last of year 9999: what a Postgres date and
 * an ISO 8601 string both hold, so a record from a clock gone wild is refused when parsed
 * instead of failing its whole ingest at every retry.
 */
const epochMs = z.number().int().min(0).max(LAST_INSTANT);

/** 16 hex digits: 64 bits of a keyed PRF of the presented string. */
export const usageFingerprintSchema = z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits');

// Postgres text cannot hold NUL; a record that could not be stored would poison its batch.
const storable = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\u0000]*$/, 'must not contain NUL');

/** What a record holds besides its time; a version 2 group holds the same. */
const usageFields = {
  /** The key, when the presented string named a known key. */
  keyId: keyIdSchema.optional(),
  /** For a presented string that named no key (unknown or malformed). */
  fingerprint: usageFingerprintSchema.optional(),
  /** The key's tenant; for an unknown key, the tenant the caller asked for, if any. */
  tenant: tenantIdSchema.optional(),
  /** The caller's address as the transport gave it (not validated: it is what was asked). */
  ip: storable(USAGE_LIMITS.ip).optional(),
  /** The scopes (the resource) the caller asked for. */
  scopes: z.array(storable(USAGE_LIMITS.scope)).max(USAGE_LIMITS.scopes),
  code: z.enum(VERIFY_CODES),
  /** Credits charged for the call: 0 when none (quotas fill it in). */
  cost: z.number().int().min(0).max(2_147_483_647),
  transport: z.enum(USAGE_TRANSPORTS),
  /**
   * Added in the honeytoken release: the key named is a honeytoken. The caller was answered
   * NOT_FOUND, as for a key that does not exist; the anomaly detector reports the use.
   */
  honeytoken: z.literal(true).optional(),
};

const NAMES_ONE_KEY = 'a record names a key by id or by fingerprint, not both';
const namesOneKey = (record: { keyId?: string | undefined; fingerprint?: string | undefined }): boolean => !(record.keyId && record.fingerprint);

export const keyUsedSchema = z
  .object({
    ...usageFields,
    /** When the verification was answered, in milliseconds since the epoch (the verifier's clock). */
    at: epochMs,
  })
  .strict()
  .refine(namesOneKey, NAMES_ONE_KEY);

/** One verification as recorded (without the instance, which its batch carries). */
export type KeyUsed = z.infer<typeof keyUsedSchema>;

/** What a record holds besides its time: the same for every record of a version 2 group. */
export type UsageRecordFields = Omit<KeyUsed, 'at'>;

/** Usage batch ids: `ub_` and a time-ordered body, as `newPrefixedId('ub')` makes them. */
export const usageBatchIdSchema = z.string().regex(/^ub_[0-9a-hjkmnp-tv-z]{26}$/, 'not a usage batch id');

/** Most records in one batch message, whatever its version. */
export const MAX_USAGE_BATCH_RECORDS = 10_000;

/** Most tallies in one batch message. */
export const MAX_USAGE_BATCH_TALLIES = 10_000;

const MINUTE_MS = 60_000;

/**
 * Verifications of strings that named no key (unknown or malformed, or no key at all), counted
 * rather than listed: one tally per minute, source address, fingerprint, tenant asked for, code
 * and transport. A verifier keeps a bounded number of fingerprints per source and minute and of
 * sources per minute; beyond them a tally has no fingerprint (and no tenant), and a source beyond
 * the limit is `USAGE_OTHER_SOURCES`. So a flood of random keys is a bounded number of tallies,
 * not a record each. No scopes and no cost: they are the caller's to choose, and nothing was charged.
 */
export const usageTallySchema = z
  .object({
    /** The minute (ms since the epoch, a whole minute) the verifications were answered in. */
    minute: epochMs.multipleOf(MINUTE_MS),
    /** The presented string's fingerprint; absent: several strings (or none) of this source. */
    fingerprint: usageFingerprintSchema.optional(),
    /** The tenant the caller asked for, if it is one. */
    tenant: tenantIdSchema.optional(),
    /** The caller's address as the transport gave it. */
    ip: storable(USAGE_LIMITS.ip).optional(),
    code: z.enum(VERIFY_CODES),
    transport: z.enum(USAGE_TRANSPORTS),
    /** How many verifications. */
    calls: z.number().int().min(1).max(2_147_483_647),
  })
  .strict();

export type UsageTally = z.infer<typeof usageTallySchema>;

/** The `ip` of a tally that counts the sources a verifier saw beyond its limit for the minute (not an address). */
export const USAGE_OTHER_SOURCES = '*';

/**
 * The longest time a version 2 batch spans: its records' offsets from `since` are at most
 * this. A verifier's batch spans its flush interval; only one that waited out an outage with
 * few records coming spans more, and the verifier then publishes it as several batches.
 */
export const MAX_USAGE_BATCH_SPAN_MS = 3_600_000;

/** What every batch carries besides its records. */
const batchHeader = {
  batchId: usageBatchIdSchema,
  /** The verifier instance that answered every verification of the batch. */
  instance: storable(USAGE_LIMITS.instance).min(1),
  /** When the batch was formed, ms since the epoch; a retry carries the same value. */
  createdAt: epochMs,
};

/**
 * Version 1: every record in full, as verifiers published their records of a few hundred
 * milliseconds before version 2; the auditor still reads it. `batchId` is the message's `Nats-Msg-Id` (a retried publish is dropped by
 * JetStream) and the auditor's idempotency key (a redelivered batch is stored once).
 */
export const usageBatchV1Schema = z
  .object({
    schemaVersion: z.literal(1),
    ...batchHeader,
    records: z.array(keyUsedSchema).min(1).max(MAX_USAGE_BATCH_RECORDS),
  })
  .strict();

/**
 * A version 2 group: the records of a batch that are equal in everything but their time,
 * each time as its offset in ms from the batch's `since`.
 */
export const usageGroupSchema = z
  .object({
    ...usageFields,
    at: z.array(z.number().int().min(0).max(MAX_USAGE_BATCH_SPAN_MS)).min(1).max(MAX_USAGE_BATCH_RECORDS),
  })
  .strict()
  .refine(namesOneKey, NAMES_ONE_KEY);

/**
 * Version 2: the records grouped. Those of one batch mostly differ only in time (the same
 * key from the same address asking for the same scopes), so a group holds their shared
 * fields once and each record's time as a small offset from `since`, the time of the batch's
 * earliest record. The same `batchId` rules as version 1; at most MAX_USAGE_BATCH_RECORDS
 * records in all, spanning at most MAX_USAGE_BATCH_SPAN_MS. `tallies` (added later, optional)
 * count the verifications of strings that named no key (`usageTallySchema`); a batch of tallies
 * only has no groups, and its `since` is its `createdAt`.
 */
export const usageBatchV2Schema = z
  .object({
    schemaVersion: z.literal(2),
    ...batchHeader,
    /** The earliest record's time, ms since the epoch: one of the offsets is 0. */
    since: epochMs,
    groups: z.array(usageGroupSchema).max(MAX_USAGE_BATCH_RECORDS),
    tallies: z.array(usageTallySchema).min(1).max(MAX_USAGE_BATCH_TALLIES).optional(),
  })
  .strict()
  .superRefine((batch, ctx) => {
    if (batch.groups.length === 0) {
      if (batch.tallies === undefined) ctx.addIssue({ code: 'custom', path: ['groups'], message: 'a batch without tallies holds at least one group' });
      return;
    }
    let records = 0;
    let earliest = Number.POSITIVE_INFINITY;
    let latest = 0;
    for (const group of batch.groups) {
      records += group.at.length;
      for (const offset of group.at) {
        if (offset < earliest) earliest = offset;
        if (offset > latest) latest = offset;
      }
    }
    if (records > MAX_USAGE_BATCH_RECORDS)
      ctx.addIssue({ code: 'custom', path: ['groups'], message: `holds ${records} records, more than ${MAX_USAGE_BATCH_RECORDS}` });
    if (earliest !== 0) ctx.addIssue({ code: 'custom', path: ['since'], message: 'must be the time of the earliest record (no offset is 0)' });
    if (batch.since + latest > LAST_INSTANT) ctx.addIssue({ code: 'custom', path: ['since'], message: 'puts a record past the year 9999' });
  });

/** Any usage batch the auditor reads, told apart by `schemaVersion`. */
export const usageBatchSchema = z.discriminatedUnion('schemaVersion', [usageBatchV1Schema, usageBatchV2Schema]);

export type UsageBatchV1 = z.infer<typeof usageBatchV1Schema>;
export type UsageGroup = z.infer<typeof usageGroupSchema>;
export type UsageBatchV2 = z.infer<typeof usageBatchV2Schema>;
export type UsageBatch = z.infer<typeof usageBatchSchema>;

/** How many records a batch holds. */
export function usageBatchRecordCount(batch: UsageBatch): number {
  if (batch.schemaVersion === 1) return batch.records.length;
  let records = 0;
  for (const group of batch.groups) records += group.at.length;
  return records;
}

/**
 * Calls `visit` for every record of a (validated) batch, in the batch's order: version 1 record
 * by record, version 2 group by group and each group's times in order. `fields` is the record
 * itself or its group, shared by the group's records: read the fields, not its `at`. `seq` is the
 * record's position in that order, 0 first: the same records in either version, in the same
 * order, get the same positions.
 */
export function forEachUsageRecord(batch: UsageBatch, visit: (fields: UsageRecordFields, at: number, seq: number) => void): void {
  if (batch.schemaVersion === 1) {
    batch.records.forEach((record, seq) => visit(record, record.at, seq));
    return;
  }
  let seq = 0;
  for (const group of batch.groups) for (const offset of group.at) visit(group, batch.since + offset, seq++);
}

/**
 * A batch's records as KeyUsed, in `forEachUsageRecord`'s order: a version 2 batch expanded
 * (each record its own object), a version 1 batch's own records.
 */
export function expandUsageBatch(batch: UsageBatch): KeyUsed[] {
  if (batch.schemaVersion === 1) return batch.records;
  const records: KeyUsed[] = [];
  forEachUsageRecord(batch, (fields, at) => {
    const record: KeyUsed = { at, scopes: [...fields.scopes], code: fields.code, cost: fields.cost, transport: fields.transport };
    if (fields.keyId !== undefined) record.keyId = fields.keyId;
    if (fields.fingerprint !== undefined) record.fingerprint = fields.fingerprint;
    if (fields.tenant !== undefined) record.tenant = fields.tenant;
    if (fields.ip !== undefined) record.ip = fields.ip;
    if (fields.honeytoken) record.honeytoken = true;
    records.push(record);
  });
  return records;
}

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
