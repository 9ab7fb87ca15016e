import type { UsageTally } from '@keyledger/contracts';
import { columnarUsageBatch } from '@keyledger/contracts';
import type { AnomalyFinding } from '@keyledger/anomaly-detection';
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
