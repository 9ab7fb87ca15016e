import type { UsageTally } from '@keyledger/contracts';
import { columnarUsageBatch, toColumnarUsageBatch } from '@keyledger/contracts';
import type { AnomalyFinding, UsageObservation } from '@keyledger/anomaly-detection';
import { observeUsageBatch } from './usage-observations.js';

const MINUTE = 60_000;
const T0 = 1_780_000_020 * 1000 - ((1_780_000_020 * 1000) % MINUTE);
const tally: UsageTally = { minute: T0, fingerprint: 'f'.repeat(16), tenant: 'acme', ip: '203.0.113.9', code: 'NOT_FOUND', transport: 'http', calls: 40 };

/** The calls each observation counts, as the detectors are given them. */
function observedCalls(batch: Parameters<typeof observeUsageBatch>[1]): number {
  const seen: UsageObservation[] = [];
  observeUsageBatch({ observe: (observation) => void seen.push(observation) }, batch, [] as AnomalyFinding[]);
  return seen.reduce((sum, observation) => sum + observation.calls, 0);
}

describe('observeUsageBatch', () => {
  it('gives the detectors the tallies of calls that named no key, in a batch of version 3 as of version 2', () => {
    const header = { batchId: 'ub_tallies', instance: 'verifier-1', createdAt: T0 + 1000 };
    const version3 = columnarUsageBatch(header, [], [tally, { ...tally, fingerprint: undefined, calls: 2 }]);
    expect(observedCalls(version3)).toBe(42);
    const version2 = { schemaVersion: 2 as const, ...header, since: header.createdAt, groups: [], tallies: [tally] };
    expect(observedCalls(version2)).toBe(40);
    expect(observedCalls(toColumnarUsageBatch(version2))).toBe(40);
  });
});
