import type { KeyUsed, UsageBatch, UsageBatchV2, UsageBatchV3 } from './usage.js';
import {
  MAX_USAGE_BATCH_RECORDS,
  MAX_USAGE_BATCH_SPAN_MS,
  MAX_USAGE_BATCH_TALLIES,
  USAGE_OTHER_SOURCES,
  columnarUsageBatch,
  expandUsageBatch,
  forEachUsageRecord,
  toColumnarUsageBatch,
  usageBatchGroups,
  usageBatchRecordCount,
  usageBatchSchema,
  usageBatchV1Schema,
  usageBatchV2Schema,
  usageBatchV3Schema,
} from './usage.js';

const T0 = Date.UTC(2030, 1, 1, 12);
const KEY = 'key_01jd8x0000000000000000000a';
const valid = (): UsageBatchV2 => ({
  schemaVersion: 2,
  batchId: 'ub_01jd8x0000000000000000000b',
  instance: 'verifier-a',
  createdAt: T0 + 300,
  since: T0,
  groups: [
    { keyId: KEY, tenant: 'acme', ip: '10.0.0.1', scopes: ['orders:read'], code: 'VALID', cost: 0, transport: 'http', at: [0, 5, 5, 240] },
    { fingerprint: '0123456789abcdef', tenant: 'acme', scopes: [], code: 'NOT_FOUND', cost: 0, transport: 'nats', at: [17] },
    { scopes: [], code: 'MALFORMED', cost: 0, transport: 'grpc', at: [3] },
  ],
});
/** The first issue's path and message, or undefined when the batch is valid. */
const refusal = (batch: unknown): string | undefined => {
  const parsed = usageBatchSchema.safeParse(batch);
  return parsed.success ? undefined : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
};

describe('usage batch, version 2', () => {
  it('expands into one record per time, group by group, each time its offset from since', () => {
    const batch = usageBatchSchema.parse(valid());
    expect(usageBatchRecordCount(batch)).toBe(6);
    const records = expandUsageBatch(batch);
    const found = { keyId: KEY, tenant: 'acme', ip: '10.0.0.1', scopes: ['orders:read'], code: 'VALID', cost: 0, transport: 'http' } as const;
    expect(records).toEqual([
      { ...found, at: T0 },
      { ...found, at: T0 + 5 },
      { ...found, at: T0 + 5 },
      { ...found, at: T0 + 240 },
      { fingerprint: '0123456789abcdef', tenant: 'acme', scopes: [], code: 'NOT_FOUND', cost: 0, transport: 'nats', at: T0 + 17 },
      { scopes: [], code: 'MALFORMED', cost: 0, transport: 'grpc', at: T0 + 3 },
    ]);
    // Records in their own right: valid as version 1 records, none sharing another's scopes.
    expect(usageBatchSchema.parse({ schemaVersion: 1, batchId: batch.batchId, instance: 'verifier-a', createdAt: T0, records }).schemaVersion).toBe(1);
    expect(records[1]!.scopes).not.toBe(records[0]!.scopes);
    expect(Object.keys(records[5]!)).not.toContain('keyId');
  });

  it('numbers the records of a batch alike in either version', () => {
    const v2 = usageBatchSchema.parse(valid());
    const v1 = usageBatchV1Schema.parse({
      schemaVersion: 1,
      batchId: v2.batchId,
      instance: v2.instance,
      createdAt: v2.createdAt,
      records: expandUsageBatch(v2),
    });
    const visits = (batch: UsageBatch): [string, number, number][] => {
      const out: [string, number, number][] = [];
      forEachUsageRecord(batch, (fields, at, seq) => out.push([fields.code, at, seq]));
      return out;
    };
    expect(visits(v1)).toEqual(visits(v2));
    expect(visits(v2).map(([, , seq]) => seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(expandUsageBatch(v1)).toEqual(v1.records);
  });

  it('refuses what a verifier never publishes', () => {
    const base = valid();
    const group = base.groups[0]!;
    const withGroup = (changes: Record<string, unknown>): unknown => ({ ...base, groups: [{ ...group, ...changes }] });
    expect(refusal(base)).toBeUndefined();
    expect(refusal({ ...base, extra: 1 })).toMatch(/Unrecognized key/);
    expect(refusal(withGroup({ instance: 'x' }))).toMatch(/^groups\.0: Unrecognized key/);
    expect(refusal(withGroup({ at: [0, -1] }))).toMatch(/^groups\.0\.at\.1:/);
    expect(refusal(withGroup({ at: [0, MAX_USAGE_BATCH_SPAN_MS + 1] }))).toMatch(/^groups\.0\.at\.1:/);
    expect(refusal(withGroup({ at: [0, 1.5] }))).toMatch(/^groups\.0\.at\.1:/);
    expect(refusal(withGroup({ at: [] }))).toMatch(/^groups\.0\.at:/);
    expect(refusal({ ...base, groups: [] })).toMatch(/^groups:/);
    expect(refusal(withGroup({ fingerprint: '0123456789abcdef' }))).toMatch(/by id or by fingerprint, not both/);
    expect(refusal(withGroup({ ip: '10.0.0.1\u0000' }))).toMatch(/NUL/);
    expect(refusal(withGroup({ ip: 'x'.repeat(65) }))).toMatch(/^groups\.0\.ip:/);
    expect(refusal(withGroup({ scopes: Array.from({ length: 33 }, (_, i) => `s${i}`) }))).toMatch(/^groups\.0\.scopes:/);
    expect(refusal(withGroup({ tenant: 'Not A Tenant' }))).toMatch(/^groups\.0\.tenant:/);
    expect(refusal(withGroup({ code: 'FINE' }))).toMatch(/^groups\.0\.code:/);
    expect(refusal(withGroup({ at: undefined }))).toMatch(/^groups\.0\.at:/);
    expect(refusal({ ...base, schemaVersion: 4 })).toMatch(/^schemaVersion:/);
    // A version 2 body under version 1, and the other way round.
    expect(refusal({ ...base, schemaVersion: 1 })).toMatch(/records|Unrecognized key/);
    expect(refusal({ ...base, groups: undefined, records: expandUsageBatch(usageBatchSchema.parse(base)) })).toMatch(/groups|Unrecognized key/);
  });

  it('refuses a since that is not the earliest record, or that puts a record past the year 9999', () => {
    const base = valid();
    const shifted = { ...base, since: T0 - 1, groups: base.groups.map((group) => ({ ...group, at: group.at.map((offset) => offset + 1) })) };
    expect(refusal(shifted)).toMatch(/^since: must be the time of the earliest record/);
    expect(refusal({ ...base, since: Date.UTC(9999, 11, 31, 23, 59, 59, 900) })).toMatch(/^since: puts a record past the year 9999/);
    expect(refusal({ ...base, since: -1 })).toMatch(/^since:/);
  });

  it('holds at most MAX_USAGE_BATCH_RECORDS records, however they are grouped', () => {
    const base = valid();
    const group = base.groups[0]!;
    const atMost = { ...base, groups: [{ ...group, at: Array.from({ length: MAX_USAGE_BATCH_RECORDS }, (_, i) => i % 1000) }] };
    expect(refusal(atMost)).toBeUndefined();
    expect(refusal({ ...atMost, groups: [...atMost.groups, base.groups[1]!] })).toMatch(/^groups: holds 10001 records, more than 10000/);
    const half = Array.from({ length: MAX_USAGE_BATCH_RECORDS / 2 + 1 }, (_, i) => i);
    expect(
      refusal({
        ...base,
        groups: [
          { ...group, at: half },
          { ...base.groups[1]!, at: half },
        ],
      }),
    ).toMatch(/^groups: holds 10002 records/);
    const single = (i: number) => ({ ...group, ip: `10.0.${i >> 8}.${i & 255}`, at: [0] });
    expect(refusal({ ...base, groups: Array.from({ length: MAX_USAGE_BATCH_RECORDS + 1 }, (_, i) => single(i)) })).toMatch(/^groups:/);
  });

  it('still reads version 1 batches', () => {
    const records: KeyUsed[] = [{ keyId: KEY, tenant: 'acme', at: T0, scopes: [], code: 'VALID', cost: 0, transport: 'http' }];
    const batch = usageBatchSchema.parse({ schemaVersion: 1, batchId: valid().batchId, instance: 'verifier-a', createdAt: T0, records });
    expect(usageBatchRecordCount(batch)).toBe(1);
    expect(expandUsageBatch(batch)).toEqual(records);
    expect(usageBatchV2Schema.safeParse(batch).success).toBe(false);
  });

  it('carries tallies of unknown keys, alone or beside groups, bounded and validated', () => {
    const tally = { minute: T0, fingerprint: '0123456789abcdef', ip: '192.0.2.1', code: 'NOT_FOUND', transport: 'http', calls: 5 } as const;
    expect(refusal({ ...valid(), tallies: [tally] })).toBeUndefined();
    const alone = { ...valid(), groups: [], since: T0 + 300, tallies: [tally, { ...tally, fingerprint: undefined, ip: USAGE_OTHER_SOURCES, calls: 99 }] };
    expect(refusal(alone)).toBeUndefined();
    expect(usageBatchRecordCount(usageBatchSchema.parse(alone))).toBe(0);
    expect(refusal({ ...alone, tallies: undefined })).toMatch(/^groups: a batch without tallies/);
    expect(refusal({ ...alone, tallies: [] })).toMatch(/^tallies:/);
    expect(refusal({ ...alone, tallies: [{ ...tally, minute: T0 + 1 }] })).toMatch(/^tallies\.0\.minute:/);
    expect(refusal({ ...alone, tallies: [{ ...tally, calls: 0 }] })).toMatch(/^tallies\.0\.calls:/);
    expect(refusal({ ...alone, tallies: [{ ...tally, ip: 'x'.repeat(65) }] })).toMatch(/^tallies\.0\.ip:/);
    expect(refusal({ ...alone, tallies: [{ ...tally, tenant: 'Not A Tenant!' }] })).toMatch(/^tallies\.0\.tenant:/);
    expect(refusal({ ...alone, tallies: [{ ...tally, scopes: [] }] })).toMatch(/^tallies\.0:/);
    expect(refusal({ ...alone, tallies: Array.from({ length: MAX_USAGE_BATCH_TALLIES + 1 }, () => tally) })).toMatch(/^tallies:/);
  });
});

describe('usage batch, version 3', () => {
  const v2 = (): UsageBatchV2 => usageBatchV2Schema.parse(valid());
  const columns = () => toColumnarUsageBatch(v2());

  it('holds the groups of version 2 as columns, each distinct value once, and expands into the same records in the same order', () => {
    const batch = usageBatchV3Schema.parse(columns());
    expect(batch).toMatchObject({
      schemaVersion: 3,
      since: T0,
      keyIds: [KEY],
      fingerprints: ['0123456789abcdef'],
      tenants: ['acme'],
      ips: ['10.0.0.1'],
      scopeLists: [['orders:read'], []],
      codes: ['VALID', 'NOT_FOUND', 'MALFORMED'],
      transports: ['http', 'nats', 'grpc'],
      groups: { keyId: [0, -1, -1], fingerprint: [-1, 0, -1], tenant: [0, 0, -1], ip: [0, -1, -1], scopes: [0, 1, 1], records: [4, 1, 1] },
      at: [0, 5, 5, 240, 17, 3],
    });
    expect(usageBatchRecordCount(batch)).toBe(6);
    expect(expandUsageBatch(batch)).toEqual(expandUsageBatch(v2()));
    const visits = (of: UsageBatch): [string, number, number][] => {
      const out: [string, number, number][] = [];
      forEachUsageRecord(of, (fields, at, seq) => out.push([fields.code, at, seq]));
      return out;
    };
    expect(visits(batch)).toEqual(visits(v2()));
    expect(columnarUsageBatch(batch, usageBatchGroups(batch))).toEqual(batch);
    const v1 = usageBatchV1Schema.parse({ schemaVersion: 1, batchId: batch.batchId, instance: 'verifier-a', createdAt: T0, records: expandUsageBatch(batch) });
    expect(expandUsageBatch(toColumnarUsageBatch(v1))).toEqual(v1.records);
  });

  it('refuses columns that disagree, with the column and entry named', () => {
    const base = columns();
    const groups = (changes: Partial<UsageBatchV3['groups']>): unknown => ({ ...base, groups: { ...base.groups, ...changes } });
    expect(refusal(base)).toBeUndefined();
    expect(refusal(groups({ cost: [0, 0] }))).toMatch(/^groups\.cost: has 2 entries, records has 3/);
    expect(refusal(groups({ ip: [0, 1, -1] }))).toMatch(/^groups\.ip\.1: names entry 1 of a table of 1/);
    expect(refusal(groups({ code: [0, 3, 0] }))).toMatch(/^groups\.code\.1: names entry 3/);
    expect(refusal(groups({ scopes: [0, -1, 0] }))).toMatch(/^groups\.scopes\.1:/);
    expect(refusal(groups({ ip: [0, -2, -1] }))).toMatch(/^groups\.ip\.1:/);
    expect(refusal(groups({ fingerprint: [0, 0, -1] }))).toMatch(/^groups\.fingerprint\.0: a record names a key by id or by fingerprint, not both/);
    expect(refusal(groups({ records: [4, 1, 2] }))).toMatch(/^at: holds 6 offsets, the groups 7 records/);
    expect(refusal(groups({ records: [4, 0, 2] }))).toMatch(/^groups\.records\.1:/);
    expect(refusal(groups({ honeytoken: [2, 0, 0] }))).toMatch(/^groups\.honeytoken\.0:/);
    expect(refusal({ ...base, at: base.at.map((offset) => offset + 1) })).toMatch(/^since: must be the time of the earliest record/);
    expect(refusal({ ...base, since: Date.UTC(9999, 11, 31, 23, 59, 59, 900) })).toMatch(/^since: puts a record past the year 9999/);
    expect(refusal({ ...base, at: [0, 5, 5, MAX_USAGE_BATCH_SPAN_MS + 1, 17, 3] })).toMatch(/^at\.3:/);
    expect(refusal({ ...base, at: [0, 5, 5, 1.5, 17, 3] })).toMatch(/^at\.3:/);
    expect(refusal({ ...base, ips: ['10.0.0.1\u0000'] })).toMatch(/^ips\.0: must not contain NUL/);
    expect(refusal({ ...base, keyIds: ['key_nope'] })).toMatch(/^keyIds\.0:/);
    expect(refusal({ ...base, codes: ['FINE', 'NOT_FOUND', 'MALFORMED'] })).toMatch(/^codes\.0:/);
    expect(refusal({ ...base, scopeLists: [Array.from({ length: 33 }, (_, i) => `s${i}`), []] })).toMatch(/^scopeLists\.0:/);
    expect(refusal({ ...base, extra: 1 })).toMatch(/Unrecognized key/);
    expect(refusal(groups({ extra: [] } as Partial<UsageBatchV3['groups']>))).toMatch(/^groups: Unrecognized key/);
    const empty = { keyId: [], fingerprint: [], tenant: [], ip: [], scopes: [], code: [], transport: [], cost: [], honeytoken: [], records: [] };
    expect(refusal({ ...base, groups: empty, at: [] })).toMatch(/^groups: a batch without tallies/);
  });

  it('carries tallies alone, its since then its createdAt', () => {
    const tally = { minute: T0, ip: '192.0.2.1', code: 'NOT_FOUND', transport: 'http', calls: 5 } as const;
    const alone = columnarUsageBatch({ batchId: valid().batchId, instance: 'verifier-a', createdAt: T0 + 9 }, [], [tally]);
    expect(usageBatchV3Schema.parse(alone)).toMatchObject({ since: T0 + 9, at: [], tallies: [tally] });
    expect(usageBatchRecordCount(alone)).toBe(0);
  });
});
