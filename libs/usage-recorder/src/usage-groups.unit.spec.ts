import fc from 'fast-check';
import type { KeyUsed } from '@keyledger/contracts';
import { MAX_USAGE_BATCH_SPAN_MS, USAGE_TRANSPORTS, VERIFY_CODES, expandUsageBatch, usageBatchGroups, usageBatchV3Schema } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import { UsageGroups, usageGroupKey } from './usage-groups.js';

const T0 = Date.UTC(2030, 1, 1, 12);
const header = { instance: 'verifier-test', createdAt: T0, newBatchId: () => newPrefixedId('ub') };
const KEYS = ['key_01jd8x0000000000000000000a', 'key_01jd8x0000000000000000000b'];

/** Strings a request can carry: separators, digits, quotes, escapes, unit separators, astral and lone surrogates; no NUL (the recorder replaces it). */
const awkward = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: fc.constantFrom('1', '2', ':', '-', ';', ',', '"', '\\', ']', '}', '\u001f', 'é', '\u{1f600}', '\ud800'), maxLength }),
    fc.string({ unit: 'binary', maxLength }).map((s) => s.replaceAll('\u0000', '')),
  );

const usedRecord: fc.Arbitrary<KeyUsed> = fc
  .record({
    name: fc.oneof(
      fc.constantFrom(...KEYS).map((keyId) => ({ keyId })),
      fc.constantFrom('0123456789abcdef', 'fedcba9876543210').map((fingerprint) => ({ fingerprint })),
      fc.constant({}),
    ),
    tenant: fc.option(fc.constantFrom('acme', 'globex'), { nil: undefined }),
    at: fc.integer({ min: T0, max: T0 + 5000 }),
    ip: fc.option(fc.oneof(fc.constantFrom('10.0.0.1', '::1'), awkward(20)), { nil: undefined }),
    scopes: fc.oneof(fc.constant<string[]>([]), fc.constant<string[]>(['orders:read']), fc.array(awkward(12), { maxLength: 3 })),
    code: fc.constantFrom(...VERIFY_CODES),
    cost: fc.integer({ min: 0, max: 2 }),
    transport: fc.constantFrom(...USAGE_TRANSPORTS),
    honeytoken: fc.boolean(),
  })
  // Only a record naming a key may mark it a honeytoken.
  .map(({ name, honeytoken, ...rest }) => ({ ...name, ...rest, ...(honeytoken && 'keyId' in name ? { honeytoken: true as const } : {}) }));

/** A record as one comparable string, every field in a fixed place. */
const canonical = (r: KeyUsed): string =>
  JSON.stringify([r.keyId ?? null, r.fingerprint ?? null, r.tenant ?? null, r.at, r.ip ?? null, r.scopes, r.code, r.cost, r.transport, r.honeytoken ?? null]);
const sameButTime = (a: KeyUsed, b: KeyUsed): boolean => canonical({ ...a, at: 0 }) === canonical({ ...b, at: 0 });

function grouped(records: readonly KeyUsed[]): UsageGroups {
  const groups = new UsageGroups();
  for (const record of records) groups.add(record);
  return groups;
}

describe('usage groups', () => {
  it('keeps a honeytoken’s records apart from any other, and their marker through the batch', () => {
    const plain: KeyUsed = { keyId: KEYS[0], tenant: 'acme', at: T0, ip: '10.0.0.1', scopes: [], code: 'NOT_FOUND', cost: 0, transport: 'nats' };
    const records: KeyUsed[] = [plain, { ...plain, honeytoken: true }, { ...plain, at: T0 + 1 }, { ...plain, at: T0 + 1, honeytoken: true }];
    const [message] = grouped(records).encode(header, 512 * 1024);
    const batch = usageBatchV3Schema.parse(JSON.parse(message!.payload));
    expect(usageBatchGroups(batch)).toHaveLength(2);
    expect(expandUsageBatch(batch).map((record) => [record.at, record.honeytoken])).toEqual([
      [T0, undefined],
      [T0 + 1, undefined],
      [T0, true],
      [T0 + 1, true],
    ]);
  });

  it('groups the records equal in everything but time, their times in the order they came', () => {
    const found: KeyUsed = { keyId: KEYS[0], tenant: 'acme', at: T0 + 7, ip: '10.0.0.1', scopes: ['orders:read'], code: 'VALID', cost: 0, transport: 'http' };
    const records: KeyUsed[] = [
      found,
      { ...found, at: T0 + 3, ip: '10.0.0.2' },
      { ...found, at: T0 + 9 },
      { ...found, at: T0 + 8, scopes: ['orders:read', 'orders:write'] },
      { ...found, at: T0 + 12, ip: '10.0.0.2' },
      { ...found, at: T0 + 12 },
    ];
    const [message, ...more] = grouped(records).encode(header, 512 * 1024);
    expect(more).toHaveLength(0);
    expect(message!.records).toBe(6);
    const batch = usageBatchV3Schema.parse(JSON.parse(message!.payload));
    expect(batch).toMatchObject({ schemaVersion: 3, batchId: message!.batchId, instance: 'verifier-test', createdAt: T0, since: T0 + 3 });
    const fields = { keyId: KEYS[0], tenant: 'acme', ip: '10.0.0.1', scopes: ['orders:read'], code: 'VALID', cost: 0, transport: 'http' };
    expect(usageBatchGroups(batch)).toEqual([
      { fields, at: [T0 + 7, T0 + 9, T0 + 12] },
      { fields: { ...fields, ip: '10.0.0.2' }, at: [T0 + 3, T0 + 12] },
      { fields: { ...fields, scopes: ['orders:read', 'orders:write'] }, at: [T0 + 8] },
    ]);
    // Each distinct value once, named by index; the offsets group after group.
    expect(batch).toMatchObject({
      keyIds: [KEYS[0]],
      ips: ['10.0.0.1', '10.0.0.2'],
      scopeLists: [['orders:read'], ['orders:read', 'orders:write']],
      codes: ['VALID'],
    });
    expect(batch.groups).toMatchObject({ keyId: [0, 0, 0], ip: [0, 1, 0], scopes: [0, 0, 1], fingerprint: [-1, -1, -1], records: [3, 2, 1] });
    expect(batch.at).toEqual([4, 6, 9, 0, 9, 5]);
  });

  it('gives two records one group key only when they are equal in everything but time, whatever their strings hold', () => {
    const tiny = fc.string({ unit: fc.constantFrom('1', ':', '-', ';', 'a'), maxLength: 4 });
    const record = fc.record({
      keyId: fc.option(tiny, { nil: undefined }),
      fingerprint: fc.option(tiny, { nil: undefined }),
      tenant: fc.option(tiny, { nil: undefined }),
      at: fc.integer({ min: 0, max: 3 }),
      ip: fc.option(tiny, { nil: undefined }),
      scopes: fc.array(tiny, { maxLength: 3 }),
      code: fc.constantFrom<KeyUsed['code']>('VALID', 'NOT_FOUND'),
      cost: fc.integer({ min: 0, max: 12 }),
      transport: fc.constantFrom(...USAGE_TRANSPORTS),
    }) as fc.Arbitrary<KeyUsed>;
    // Half the pairs equal but for their time, half drawn apart (often close: the alphabet is tiny).
    const pair = fc.oneof(
      fc.tuple(record, fc.integer({ min: 0, max: 3 })).map(([a, at]): [KeyUsed, KeyUsed] => [a, { ...a, scopes: [...a.scopes], at }]),
      fc.tuple(record, record).map((pair): [KeyUsed, KeyUsed] => pair),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => {
        expect(usageGroupKey(a) === usageGroupKey(b)).toBe(sameButTime(a, b));
      }),
      { numRuns: 2000 },
    );
    // Concatenations that meet unless every field is delimited.
    const base: KeyUsed = { at: 0, scopes: [], code: 'VALID', cost: 1, transport: 'http' };
    const apart: KeyUsed[] = [
      { ...base, ip: '1:a' },
      { ...base, ip: '1', scopes: ['a'] },
      { ...base, scopes: ['a:b'] },
      { ...base, scopes: ['a', 'b'] },
      { ...base, tenant: 'a', ip: 'b' },
      { ...base, tenant: 'ab' },
      { ...base, ip: '-' },
      { ...base, ip: '' },
      { ...base, cost: 11 },
      { ...base, keyId: 'key_x' },
      { ...base, fingerprint: 'key_x' },
    ];
    expect(new Set(apart.map(usageGroupKey)).size).toBe(apart.length);
  });

  it('encodes any records into valid batches of at most the given size that expand back into the same records', () => {
    fc.assert(
      fc.property(fc.array(usedRecord, { minLength: 1, maxLength: 300 }), fc.integer({ min: 200, max: 60_000 }), (records, maxBytes) => {
        const groups = grouped(records);
        groups.seal();
        const messages = groups.encode(header, maxBytes);
        const expanded: KeyUsed[] = [];
        for (const message of messages) {
          // A single record is sent whatever its size; anything larger is split to fit.
          if (message.records > 1) expect(Buffer.byteLength(message.payload)).toBeLessThanOrEqual(maxBytes);
          const batch = usageBatchV3Schema.parse(JSON.parse(message.payload));
          expect(batch.batchId).toBe(message.batchId);
          const own = expandUsageBatch(batch);
          expect(own).toHaveLength(message.records);
          expanded.push(...own);
        }
        expect(new Set(messages.map((m) => m.batchId)).size).toBe(messages.length);
        // Unsplit, a batch holds one group per distinct record (but for time).
        if (messages.length === 1) {
          const distinct = new Set(records.map((r) => canonical({ ...r, at: 0 })));
          expect(usageBatchV3Schema.parse(JSON.parse(messages[0]!.payload)).groups.records).toHaveLength(distinct.size);
        }
        expect(expanded.map(canonical).sort()).toEqual(records.map(canonical).sort());
      }),
      { numRuns: 300 },
    );
  });

  it('splits one large group where the halves meet, each half with its own since', () => {
    const record = (i: number): KeyUsed => ({
      fingerprint: '0123456789abcdef',
      at: T0 + i * 30_000,
      scopes: [],
      code: 'NOT_FOUND',
      cost: 0,
      transport: 'nats',
    });
    const records = Array.from({ length: 100 }, (_, i) => record(i));
    const messages = grouped(records).encode(header, 600);
    expect(messages.length).toBeGreaterThan(1);
    const batches = messages.map((m) => usageBatchV3Schema.parse(JSON.parse(m.payload)));
    expect(batches.every((b) => b.groups.records.length === 1)).toBe(true);
    expect(batches.flatMap(expandUsageBatch).map((r) => r.at)).toEqual(records.map((r) => r.at));
    expect(batches[1]!.since).toBe(batches[0]!.since + batches[0]!.at.length * 30_000);
  });

  it('encodes a sealed batch as before, and refuses records once sealed', () => {
    const records = Array.from({ length: 40 }, (_, i): KeyUsed => ({
      keyId: KEYS[i % 2],
      at: T0 + i,
      ip: `10.0.0.${i % 12}`,
      scopes: [],
      code: 'VALID',
      cost: 0,
      transport: 'http',
    }));
    const groups = grouped(records);
    const header = { instance: 'verifier-test', createdAt: T0, newBatchId: () => 'ub_01jd8x0000000000000000000b' };
    const open = groups.encode(header, 512 * 1024);
    groups.seal();
    expect(groups.encode(header, 512 * 1024)).toEqual(open);
    expect(() => groups.add(records[0]!)).toThrow(/sealed/);
    expect(groups.records).toBe(40);
  });

  it('admits a record only while the batch spans at most MAX_USAGE_BATCH_SPAN_MS', () => {
    const groups = new UsageGroups();
    expect(groups.admits(T0)).toBe(true);
    groups.add({ at: T0, scopes: [], code: 'MALFORMED', cost: 0, transport: 'http' });
    expect(groups.admits(T0 + MAX_USAGE_BATCH_SPAN_MS)).toBe(true);
    expect(groups.admits(T0 - MAX_USAGE_BATCH_SPAN_MS)).toBe(true);
    expect(groups.admits(T0 + MAX_USAGE_BATCH_SPAN_MS + 1)).toBe(false);
    groups.add({ at: T0 + 1000, scopes: [], code: 'MALFORMED', cost: 0, transport: 'http' });
    expect(groups.admits(T0 - MAX_USAGE_BATCH_SPAN_MS)).toBe(false);
    expect(groups.admits(T0 + 1000 - MAX_USAGE_BATCH_SPAN_MS)).toBe(true);
  });
});
