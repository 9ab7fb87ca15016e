import type { KeyUsed, UsageTally } from '@keyledger/contracts';
import { USAGE_OTHER_SOURCES, usageBatchGroups, usageBatchV3Schema } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import { UsageBuffer } from './usage-buffer.js';
import type { EncodedUsageBatch } from './usage-groups.js';
import { UnknownKeyTally } from './unknown-key-tally.js';

const MINUTE = Date.UTC(2030, 0, 1, 12, 0);
const SETTINGS = { fingerprintsPerSource: 3, sourcesPerMinute: 4 };
const hex = (n: number): string => n.toString(16).padStart(16, '0');
const unknown = (n: number, overrides: Partial<KeyUsed> = {}): KeyUsed => ({
  fingerprint: hex(n),
  ip: '198.51.100.1',
  at: MINUTE + (n % 60_000),
  scopes: ['orders:read'],
  code: 'NOT_FOUND',
  cost: 0,
  transport: 'http',
  ...overrides,
});
const calls = (tallies: readonly UsageTally[]): number => tallies.reduce((sum, tally) => sum + tally.calls, 0);

describe('unknown key tally', () => {
  it('counts the same string from the same source in one tally, without its scopes', () => {
    const tally = new UnknownKeyTally(SETTINGS);
    for (let i = 0; i < 5; i += 1) tally.add(unknown(7, { at: MINUTE + i * 1000, tenant: 'acme' }));
    tally.add(unknown(7, { code: 'MALFORMED', fingerprint: undefined }));
    expect(tally.drain()).toEqual([
      { minute: MINUTE, fingerprint: hex(7), tenant: 'acme', ip: '198.51.100.1', code: 'NOT_FOUND', transport: 'http', calls: 5 },
      { minute: MINUTE, ip: '198.51.100.1', code: 'MALFORMED', transport: 'http', calls: 1 },
    ]);
    expect(tally.drain()).toEqual([]);
  });

  it("keeps a source's first fingerprints of the minute and counts the rest without one, over every drain of the minute", () => {
    const tally = new UnknownKeyTally(SETTINGS);
    const rows = new Set<string>();
    for (let round = 0; round < 10; round += 1) {
      for (let i = 0; i < 100; i += 1) tally.add(unknown(round * 100 + i));
      for (const t of tally.drain()) rows.add(`${t.minute} ${t.ip} ${t.fingerprint}`);
    }
    // Three fingerprints and one row without: what the auditor stores for the source's minute.
    expect([...rows].sort()).toEqual([
      `${MINUTE} 198.51.100.1 ${hex(0)}`,
      `${MINUTE} 198.51.100.1 ${hex(1)}`,
      `${MINUTE} 198.51.100.1 ${hex(2)}`,
      `${MINUTE} 198.51.100.1 undefined`,
    ]);
    // The next minute, the source starts afresh.
    tally.add(unknown(999, { at: MINUTE + 60_000 }));
    expect(tally.drain()).toEqual([expect.objectContaining({ minute: MINUTE + 60_000, fingerprint: hex(999) })]);
  });

  it('counts the sources beyond the limit of the minute as one', () => {
    const tally = new UnknownKeyTally(SETTINGS);
    for (let source = 0; source < 100; source += 1) tally.add(unknown(source, { ip: `203.0.113.${source}` }));
    const tallies = tally.drain();
    expect(tallies.filter((t) => t.ip !== USAGE_OTHER_SOURCES)).toHaveLength(4);
    expect(tallies.filter((t) => t.ip === USAGE_OTHER_SOURCES)).toEqual([
      { minute: MINUTE, ip: USAGE_OTHER_SOURCES, code: 'NOT_FOUND', transport: 'http', calls: 96 },
    ]);
  });

  it('turns a flood of 100,000 random keys from as many sources into a bounded number of tallies, every call counted', () => {
    const tally = new UnknownKeyTally({ fingerprintsPerSource: 10, sourcesPerMinute: 1000 });
    const all: UsageTally[] = [];
    for (let i = 0; i < 100_000; i += 1) {
      tally.add(unknown(i * 7919, { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, at: MINUTE + Math.floor(i / 10) }));
      if (i % 1000 === 999) all.push(...tally.drain());
    }
    expect(calls(all)).toBe(100_000);
    // Each source a minute: at most 11 rows; 1000 sources and the others.
    expect(new Set(all.map((t) => `${t.ip} ${t.fingerprint}`)).size).toBeLessThanOrEqual(1001 * 11);
    expect(all.filter((t) => t.ip === USAGE_OTHER_SOURCES).reduce((sum, t) => sum + t.calls, 0)).toBe(99_000);
  });
});

describe('usage buffer with unknown keys', () => {
  it('publishes tallies in valid batches of their own, beside the records of known keys', async () => {
    const payloads: EncodedUsageBatch[] = [];
    const buffer = new UsageBuffer(
      { publish: (batch) => Promise.resolve(void payloads.push(batch)), instance: 'verifier-test', newBatchId: () => newPrefixedId('ub') },
      { capacity: 1000, batchRecords: 100, flushIntervalMs: 60_000, maxBatchBytes: 16 * 1024, retryDelayMs: 5, maxRetryDelayMs: 20 },
    );
    const key = newPrefixedId('key');
    buffer.add({ keyId: key, at: MINUTE, scopes: [], code: 'VALID', cost: 0, transport: 'http' });
    for (let i = 0; i < 100_000; i += 1) buffer.add(unknown(i, { ip: `10.0.${(i >> 8) & 255}.${i & 255}` }));
    await buffer.flush();
    const batches = payloads.map((p) => usageBatchV3Schema.parse(JSON.parse(p.payload)));
    // Split to fit 16 KiB, as NATS needs.
    expect(payloads.every((p) => Buffer.byteLength(p.payload) <= 16 * 1024)).toBe(true);
    expect(batches.flatMap(usageBatchGroups).map((g) => g.fields.keyId)).toEqual([key]);
    const tallies = batches.flatMap((b) => b.tallies ?? []);
    expect(calls(tallies)).toBe(100_000);
    expect(tallies.length).toBeLessThanOrEqual(1001 * 11);
    // Buffer capacity is for records of known keys: the flood took none of it.
    expect(buffer.counts()).toMatchObject({ dropped: 0, published: 1 });
  });
});
