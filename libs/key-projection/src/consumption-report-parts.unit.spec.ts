import { MAX_CONSUMPTION_ENTRIES_PER_MESSAGE } from '@keyledger/contracts';
import { consumptionReportParts } from './rate-limit-sync.js';

type Entry = [string, number, number, number, number];
const entry = (i: number): Entry => [`key_${String(i).padStart(26, '0')}`, 3_600_000, 1_765_000_000_000, i, 0];
const bytesOf = (part: readonly Entry[]): number => part.reduce((sum, item) => sum + JSON.stringify(item).length + 1, 0);

describe('consumptionReportParts', () => {
  it('splits a report into parts of at most the bytes given, keeping every entry in order', () => {
    const entries = Array.from({ length: 1000 }, (_, i) => entry(i));
    const maxBytes = 8 * 1024;
    const parts = consumptionReportParts(entries, maxBytes);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(bytesOf(part)).toBeLessThanOrEqual(maxBytes);
    expect(parts.flat()).toEqual(entries);
  });

  it('splits by the entry count too, and sends an empty report as one empty part', () => {
    const entries = Array.from({ length: MAX_CONSUMPTION_ENTRIES_PER_MESSAGE + 1 }, (_, i) => entry(i));
    expect(consumptionReportParts(entries, Number.POSITIVE_INFINITY).map((part) => part.length)).toEqual([MAX_CONSUMPTION_ENTRIES_PER_MESSAGE, 1]);
    expect(consumptionReportParts([], 1024)).toEqual([[]]);
  });
});
