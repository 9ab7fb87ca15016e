import { TreeGrowthSchedule } from './tree-growth-schedule.js';

const at = (transactionId: number, position: number) => ({ transactionId: String(transactionId), position: String(position) });

describe('TreeGrowthSchedule', () => {
  it('runs the first pass at once: what the tree covers is not known yet', () => {
    expect(new TreeGrowthSchedule(30_000).due(at(0, 0), 0)).toBe(true);
  });

  it('skips passes while nothing seen is past the tree, and runs one as soon as something is', () => {
    const schedule = new TreeGrowthSchedule(30_000);
    schedule.passed(at(10, 5), 1000);
    expect(schedule.due(at(10, 5), 2000)).toBe(false);
    expect(schedule.due(at(9, 7), 3000)).toBe(false);
    expect(schedule.due(at(10, 6), 3000)).toBe(true);
    expect(schedule.due(at(11, 1), 3000)).toBe(true);
  });

  it('runs a pass after the longest quiet anyway: the store may grow while the bus is away', () => {
    const schedule = new TreeGrowthSchedule(30_000);
    schedule.passed(at(10, 5), 1000);
    expect(schedule.due(at(10, 5), 30_999)).toBe(false);
    expect(schedule.due(at(10, 5), 31_000)).toBe(true);
  });

  it('compares positions as numbers, not as text', () => {
    const schedule = new TreeGrowthSchedule(30_000);
    schedule.passed(at(9, 99), 0);
    expect(schedule.due(at(10, 1), 1)).toBe(true);
    schedule.passed(at(100, 1), 2);
    expect(schedule.due(at(99, 500), 3)).toBe(false);
  });
});
