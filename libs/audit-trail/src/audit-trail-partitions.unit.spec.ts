import { trailMonthsAhead } from './audit-trail-partitions.js';

describe('trailMonthsAhead', () => {
  it('names this UTC month and the next, across the end of a year', () => {
    expect(trailMonthsAhead(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toEqual(['2026-12-01', '2027-01-01']);
    expect(trailMonthsAhead(Date.UTC(2027, 0, 1))).toEqual(['2027-01-01', '2027-02-01']);
  });

  it('names the first day of each, from any instant of the month', () => {
    expect(trailMonthsAhead(Date.UTC(2026, 0, 31, 12))).toEqual(['2026-01-01', '2026-02-01']);
    expect(trailMonthsAhead(Date.UTC(2026, 1, 15))).toEqual(['2026-02-01', '2026-03-01']);
  });
});
