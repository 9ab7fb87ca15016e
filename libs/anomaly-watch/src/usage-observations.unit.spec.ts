import type { UsageTally } from '@keyledger/contracts';
import { columnarUsageBatch, toColumnarUsageBatch } from '@keyledger/contracts';
import type { AnomalyFinding, UsageObservation } from '@keyledger/anomaly-detection';
import { AnomalyDetector } from '@keyledger/anomaly-detection';
import { observeUsageBatch } from './usage-observations.js';

const MINUTE = Date.UTC(2026, 0, 1, 10, 0);

/** Twenty unknown strings from one address in a minute, as a verifier tallies them. */
const tallies: UsageTally[] = Array.from({ length: 20 }, (_, i) => ({
  minute: MINUTE,
  fingerprint: i.toString(16).padStart(16, '0'),
  tenant: 'acme',
  ip: '203.0.113.5',
  code: 'NOT_FOUND',
  transport: 'http',
  calls: 1,
}));

describe('a usage batch as the detectors see it', () => {
  it.each([2, 3] as const)('observes the tallies of a version %i batch: an enumeration is found from them', (version) => {
    const header = { batchId: 'ub_01jqaaaaaaaaaaaaaaaaaaaaaa', instance: 'verifier-unit', createdAt: MINUTE + 1000 };
    const batch =
      version === 3 ? columnarUsageBatch(header, [], tallies) : { schemaVersion: 2 as const, ...header, since: header.createdAt, groups: [], tallies };
    const findings: AnomalyFinding[] = [];
    observeUsageBatch(new AnomalyDetector(() => MINUTE + 1000), batch, findings);
    expect(findings.map((finding) => [finding.detector, finding.severity, finding.subject])).toEqual([
      ['enumeration', 'medium', { kind: 'source', network: '203.0.113.0/24', tenant: 'acme' }],
      ['enumeration', 'high', { kind: 'source', network: '203.0.113.0/24', tenant: 'acme' }],
    ]);
  });
});

const oneTally: UsageTally = {
  minute: MINUTE,
  fingerprint: 'f'.repeat(16),
  tenant: 'acme',
  ip: '203.0.113.9',
  code: 'NOT_FOUND',
  transport: 'http',
  calls: 40,
};

/** The calls each observation counts, as the detectors are given them. */
function observedCalls(batch: Parameters<typeof observeUsageBatch>[1]): number {
  const seen: UsageObservation[] = [];
  observeUsageBatch({ observe: (observation) => void seen.push(observation) }, batch, [] as AnomalyFinding[]);
  return seen.reduce((sum, observation) => sum + observation.calls, 0);
}

describe('observeUsageBatch', () => {
  it('gives the detectors the tallies of calls that named no key, in a batch of version 3 as of version 2', () => {
    const header = { batchId: 'ub_tallies', instance: 'verifier-1', createdAt: MINUTE + 1000 };
    const version3 = columnarUsageBatch(header, [], [oneTally, { ...oneTally, fingerprint: undefined, calls: 2 }]);
    expect(observedCalls(version3)).toBe(42);
    const version2 = { schemaVersion: 2 as const, ...header, since: header.createdAt, groups: [], tallies: [oneTally] };
    expect(observedCalls(version2)).toBe(40);
    expect(observedCalls(toColumnarUsageBatch(version2))).toBe(40);
  });
});
