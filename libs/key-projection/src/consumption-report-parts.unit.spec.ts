import { MAX_CONSUMPTION_ENTRIES_PER_MESSAGE } from '@keyledger/contracts';
import { consumptionReportParts } from './rate-limit-sync.js';

type Entry = [string, number, number, number, number];
const entry = (i: number, id = `key_${String(i).padStart(26, '0')}`): Entry => [id, 3_600_000, 1_765_000_000_000, i, 0];

describe('consumptionReportParts', () => {
  it('splits a report into parts whose JSON takes at most the bytes given, keeping every entry in order', () => {
    // Some entries of several UTF-8 bytes a character: the limit is the server's, in bytes.
    const entries = Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? entry(i, `clé-${'é'.repeat(20)}-${i}`) : entry(i)));
    const maxBytes = 8 * 1024;
    const parts = consumptionReportParts(entries, maxBytes);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThanOrEqual(maxBytes);
    expect(parts.flat()).toEqual(entries);
  });

  it('splits by the entry count too, and sends an empty report as one empty part', () => {
    const entries = Array.from({ length: MAX_CONSUMPTION_ENTRIES_PER_MESSAGE + 1 }, (_, i) => entry(i));
    expect(consumptionReportParts(entries, Number.POSITIVE_INFINITY).map((part) => part.length)).toEqual([MAX_CONSUMPTION_ENTRIES_PER_MESSAGE, 1]);
    expect(consumptionReportParts([], 1024)).toEqual([[]]);
  });
});
