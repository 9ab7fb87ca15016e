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
 * Batches come in three versions: 1, a list of records; 2, the records grouped by everything
 * but their time (`usageBatchV2Schema`); 3, those groups as columns (`usageBatchV3Schema`).
 * The verifiers publish `USAGE_SCHEMA_VERSION`; the readers decode all three. Every batch message is sealed
 * (`formatUsageSeal`): the readers refuse one without a valid seal, whatever its version.
 */
export const USAGE_SCHEMA_VERSION = 3;

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

/** Index of a value in its table (`usageBatchV3Schema`), or NO_VALUE. */
const valueIndex = z
  .number()
  .int()
  .min(0)
  .max(MAX_USAGE_BATCH_RECORDS - 1);
/** An optional field's index: NO_VALUE (-1) when the group has none. */
const optionalValueIndex = z
  .number()
  .int()
  .min(-1)
  .max(MAX_USAGE_BATCH_RECORDS - 1);
/** A column: one entry per group. */
const column = <T extends z.ZodType>(entry: T) => z.array(entry).max(MAX_USAGE_BATCH_RECORDS);
/** A table of a field's distinct values, which the groups name by index. */
const table = <T extends z.ZodType>(value: T) => z.array(value).max(MAX_USAGE_BATCH_RECORDS);

/** The index column entry of a group without that (optional) field. */
export const NO_VALUE = -1;

/**
 * Version 3, columns: the groups of version 2 as one array per field instead of one object per
 * group, and each string-valued field's distinct values once, in a table of its own (`keyIds`,
 * `fingerprints`, …), which the group columns name by index (`NO_VALUE` when an optional field
 * is absent). `groups.records[g]` is how many records group g holds; `at` holds every record's
 * offset from `since`, group after group, so group g's are the `records[g]` offsets after those
 * of the groups before it. A reader parses a handful of arrays of small integers and each
 * distinct string once, and checks them in one pass, instead of an object per group. Only the
 * shape is here: `usageBatchV3Schema` adds the rules across columns (`usageColumnsIssues`).
 */
export const usageBatchV3Shape = z
  .object({
    schemaVersion: z.literal(3),
    ...batchHeader,
    /** The earliest record's time, ms since the epoch: one of the offsets is 0. */
    since: epochMs,
    keyIds: table(keyIdSchema),
    fingerprints: table(usageFingerprintSchema),
    tenants: table(tenantIdSchema),
    ips: table(storable(USAGE_LIMITS.ip)),
    /** Lists of scopes, each as a record asked for it. */
    scopeLists: table(usageFields.scopes),
    codes: table(usageFields.code),
    transports: table(usageFields.transport),
    groups: z
      .object({
        keyId: column(optionalValueIndex),
        fingerprint: column(optionalValueIndex),
        tenant: column(optionalValueIndex),
        ip: column(optionalValueIndex),
        scopes: column(valueIndex),
        code: column(valueIndex),
        transport: column(valueIndex),
        cost: column(usageFields.cost),
        /** 1 for a group of honeytoken records, else 0. */
        honeytoken: column(z.number().int().min(0).max(1)),
        records: column(z.number().int().min(1).max(MAX_USAGE_BATCH_RECORDS)),
      })
      .strict(),
    at: z.array(z.number().int().min(0).max(MAX_USAGE_BATCH_SPAN_MS)).max(MAX_USAGE_BATCH_RECORDS),
    tallies: z.array(usageTallySchema).min(1).max(MAX_USAGE_BATCH_TALLIES).optional(),
  })
  .strict();

export type UsageBatchV3 = z.infer<typeof usageBatchV3Shape>;

/** What is wrong with a batch of version 3's shape, across its columns. */
export interface UsageColumnsIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * The rules of version 3 that no single field states, in one pass over the columns: every group
 * column as long as the others; every index within its table; a key by id or by fingerprint, not
 * both; as many offsets as the groups' records; one offset 0 and none past the year 9999; a batch
 * without groups has tallies. Empty when the batch keeps them all. `usageBatchV3Schema` runs it
 * after the shape; a reader with a compiled check of the shape runs it too.
 */
export function usageColumnsIssues(batch: UsageBatchV3): UsageColumnsIssue[] {
  const issues: UsageColumnsIssue[] = [];
  const { groups } = batch;
  const count = groups.records.length;
  for (const name of Object.keys(groups) as (keyof UsageBatchV3['groups'])[])
    if (groups[name].length !== count) issues.push({ path: ['groups', name], message: `has ${groups[name].length} entries, records has ${count}` });
  if (issues.length > 0) return issues;
  const indexes = [
    ['keyId', batch.keyIds.length],
    ['fingerprint', batch.fingerprints.length],
    ['tenant', batch.tenants.length],
    ['ip', batch.ips.length],
    ['scopes', batch.scopeLists.length],
    ['code', batch.codes.length],
    ['transport', batch.transports.length],
  ] as const;
  for (const [name, size] of indexes) {
    const entries = groups[name];
    for (let g = 0; g < count; g += 1)
      if (entries[g]! >= size) {
        issues.push({ path: ['groups', name, g], message: `names entry ${entries[g]} of a table of ${size}` });
        break;
      }
  }
  let records = 0;
  for (let g = 0; g < count; g += 1) {
    records += groups.records[g]!;
    if (groups.keyId[g] !== NO_VALUE && groups.fingerprint[g] !== NO_VALUE) {
      issues.push({ path: ['groups', 'fingerprint', g], message: NAMES_ONE_KEY });
      break;
    }
  }
  if (records !== batch.at.length) issues.push({ path: ['at'], message: `holds ${batch.at.length} offsets, the groups ${records} records` });
  if (count === 0) {
    if (batch.tallies === undefined) issues.push({ path: ['groups'], message: 'a batch without tallies holds at least one group' });
    return issues;
  }
  let earliest = Number.POSITIVE_INFINITY;
  let latest = 0;
  for (const offset of batch.at) {
    if (offset < earliest) earliest = offset;
    if (offset > latest) latest = offset;
  }
  if (earliest !== 0) issues.push({ path: ['since'], message: 'must be the time of the earliest record (no offset is 0)' });
  if (batch.since + latest > LAST_INSTANT) issues.push({ path: ['since'], message: 'puts a record past the year 9999' });
  return issues;
}

/** Version 3 with every rule: the shape, then `usageColumnsIssues`. */
export const usageBatchV3Schema = usageBatchV3Shape.superRefine((batch, ctx) => {
  for (const { path, message } of usageColumnsIssues(batch)) ctx.addIssue({ code: 'custom', path: [...path], message });
});

/** Any usage batch the auditor reads, told apart by `schemaVersion`. */
export const usageBatchSchema = z.discriminatedUnion('schemaVersion', [usageBatchV1Schema, usageBatchV2Schema, usageBatchV3Schema]);

export type UsageBatchV1 = z.infer<typeof usageBatchV1Schema>;
export type UsageGroup = z.infer<typeof usageGroupSchema>;
export type UsageBatchV2 = z.infer<typeof usageBatchV2Schema>;
export type UsageBatch = z.infer<typeof usageBatchSchema>;

/** How many records a batch holds. */
export function usageBatchRecordCount(batch: UsageBatch): number {
  if (batch.schemaVersion === 1) return batch.records.length;
  if (batch.schemaVersion === 3) return batch.at.length;
  let records = 0;
  for (const group of batch.groups) records += group.at.length;
  return records;
}

/**
 * Calls `visit` for every record of a (validated) batch, in the batch's order: version 1 record
 * by record, versions 2 and 3 group by group and each group's times in order. `fields` is the
 * record itself or its group's fields, shared by the group's records: read the fields, not an
 * `at` of theirs. `seq` is the record's position in that order, 0 first: the same records in any
 * version, in the same order, get the same positions.
 */
export function forEachUsageRecord(batch: UsageBatch, visit: (fields: UsageRecordFields, at: number, seq: number) => void): void {
  if (batch.schemaVersion === 1) {
    batch.records.forEach((record, seq) => visit(record, record.at, seq));
    return;
  }
  let seq = 0;
  if (batch.schemaVersion === 2) {
    for (const group of batch.groups) for (const offset of group.at) visit(group, batch.since + offset, seq++);
    return;
  }
  const { records } = batch.groups;
  for (let g = 0; g < records.length; g += 1) {
    const fields = usageGroupFields(batch, g);
    for (let end = seq + records[g]!; seq < end; seq += 1) visit(fields, batch.since + batch.at[seq]!, seq);
  }
}

/** The fields of group `g` of a (validated) version 3 batch, as an object. */
export function usageGroupFields(batch: UsageBatchV3, g: number): UsageRecordFields {
  const { groups } = batch;
  const fields: UsageRecordFields = {
    scopes: batch.scopeLists[groups.scopes[g]!]!,
    code: batch.codes[groups.code[g]!]!,
    cost: groups.cost[g]!,
    transport: batch.transports[groups.transport[g]!]!,
  };
  const [keyId, fingerprint, tenant, ip] = [groups.keyId[g]!, groups.fingerprint[g]!, groups.tenant[g]!, groups.ip[g]!];
  if (keyId !== NO_VALUE) fields.keyId = batch.keyIds[keyId];
  if (fingerprint !== NO_VALUE) fields.fingerprint = batch.fingerprints[fingerprint];
  if (tenant !== NO_VALUE) fields.tenant = batch.tenants[tenant];
  if (ip !== NO_VALUE) fields.ip = batch.ips[ip];
  if (groups.honeytoken[g] === 1) fields.honeytoken = true;
  return fields;
}

/** The groups of a (validated) version 3 batch, each its fields and its records' times (ms since the epoch): what `columnarUsageBatch` took. */
export function usageBatchGroups(batch: UsageBatchV3): UsageGroupTimes[] {
  const groups: UsageGroupTimes[] = [];
  let first = 0;
  batch.groups.records.forEach((records, g) => {
    groups.push({ fields: usageGroupFields(batch, g), at: batch.at.slice(first, first + records).map((offset) => batch.since + offset) });
    first += records;
  });
  return groups;
}

/** A group as `columnarUsageBatch` takes it: the fields its records share, and their times (ms since the epoch). */
export interface UsageGroupTimes {
  readonly fields: UsageRecordFields;
  readonly at: readonly number[];
}

/** A field's distinct values in the order they first come, each with its index. */
class ValueTable<T> {
  readonly values: T[] = [];
  private readonly indexes = new Map<string, number>();

  /** The index of the value `key` stands for, added as `value` if new. */
  indexOf(key: string, value: T): number {
    let index = this.indexes.get(key);
    if (index === undefined) {
      index = this.values.push(value) - 1;
      this.indexes.set(key, index);
    }
    return index;
  }

  /** The index of an optional string value, or NO_VALUE. */
  optional(this: ValueTable<string>, value: string | undefined): number {
    return value === undefined ? NO_VALUE : this.indexOf(value, value);
  }
}

/**
 * A version 3 batch of these groups, in their order, and tallies (the verifier's encoding, and
 * the auditor's of an older batch). Groups need not differ: equal ones stay apart. `since` is the
 * earliest time, `createdAt` when there are no groups. Each field's table holds its distinct
 * values in the order the groups first name them.
 */
export function columnarUsageBatch(
  header: Pick<UsageBatchV3, 'batchId' | 'instance' | 'createdAt'>,
  groups: readonly UsageGroupTimes[],
  tallies: readonly UsageTally[] = [],
): UsageBatchV3 {
  let since = groups.length === 0 ? header.createdAt : Number.POSITIVE_INFINITY;
  for (const group of groups) for (const at of group.at) if (at < since) since = at;
  const tables = {
    keyIds: new ValueTable<string>(),
    fingerprints: new ValueTable<string>(),
    tenants: new ValueTable<string>(),
    ips: new ValueTable<string>(),
    scopeLists: new ValueTable<string[]>(),
    codes: new ValueTable<UsageRecordFields['code']>(),
    transports: new ValueTable<UsageRecordFields['transport']>(),
  };
  const columns: UsageBatchV3['groups'] = {
    keyId: [],
    fingerprint: [],
    tenant: [],
    ip: [],
    scopes: [],
    code: [],
    transport: [],
    cost: [],
    honeytoken: [],
    records: [],
  };
  const at: number[] = [];
  for (const { fields, at: times } of groups) {
    columns.keyId.push(tables.keyIds.optional(fields.keyId));
    columns.fingerprint.push(tables.fingerprints.optional(fields.fingerprint));
    columns.tenant.push(tables.tenants.optional(fields.tenant));
    columns.ip.push(tables.ips.optional(fields.ip));
    columns.scopes.push(tables.scopeLists.indexOf(scopeListKey(fields.scopes), fields.scopes));
    columns.code.push(tables.codes.indexOf(fields.code, fields.code));
    columns.transport.push(tables.transports.indexOf(fields.transport, fields.transport));
    columns.cost.push(fields.cost);
    columns.honeytoken.push(fields.honeytoken ? 1 : 0);
    columns.records.push(times.length);
    for (const time of times) at.push(time - since);
  }
  const batch: UsageBatchV3 = {
    schemaVersion: 3,
    batchId: header.batchId,
    instance: header.instance,
    createdAt: header.createdAt,
    since,
    keyIds: tables.keyIds.values,
    fingerprints: tables.fingerprints.values,
    tenants: tables.tenants.values,
    ips: tables.ips.values,
    scopeLists: tables.scopeLists.values,
    codes: tables.codes.values,
    transports: tables.transports.values,
    groups: columns,
    at,
  };
  if (tallies.length > 0) batch.tallies = [...tallies];
  return batch;
}

/** The same string for two lists of scopes exactly when they are equal: each scope as its length, a colon and itself. */
function scopeListKey(scopes: readonly string[]): string {
  let key = '';
  for (const scope of scopes) key += `${scope.length}:${scope}`;
  return key;
}

/**
 * A batch of any version as version 3, with the same records in the same order (so the same
 * `seq`): version 3 itself; a version 2 batch's groups as they are; each record of version 1 a
 * group of its own.
 */
export function toColumnarUsageBatch(batch: UsageBatch): UsageBatchV3 {
  if (batch.schemaVersion === 3) return batch;
  if (batch.schemaVersion === 1)
    return columnarUsageBatch(
      batch,
      batch.records.map((record) => ({ fields: record, at: [record.at] })),
    );
  const groups = batch.groups.map((group) => ({ fields: group, at: group.at.map((offset) => batch.since + offset) }));
  return columnarUsageBatch(batch, groups, batch.tallies);
}

/**
 * A batch's records as KeyUsed, in `forEachUsageRecord`'s order: a version 2 or 3 batch expanded
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
