import type { AnomalyFinding, SourceAnomalyFinding } from '@keyledger/contracts';
import { ackText, explanationText, findingsTable, handlingText } from './anomalies.command.js';

const finding: AnomalyFinding = {
  id: '00000000-0000-4000-8000-000000000001',
  keyId: 'key_01jd0000000000000000000000',
  tenant: 'acme',
  kind: 'honeytoken',
  severity: 'critical',
  detail: 'honeytoken: presented',
  detectedAt: '2026-12-06T10:00:00.000Z',
  recordedAt: '2026-12-06T10:00:00.100Z',
  recordedBy: 'system:anomaly-detector',
  call: null,
  evidence: null,
  handled: null,
  acknowledged: null,
};

describe('keyledger anomalies output', () => {
  it('says what the policy did, why it differs from what was asked, and pending before the rotator handled it', () => {
    expect(handlingText(null)).toBe('pending');
    const at = '2026-12-06T10:00:01.000Z';
    expect(
      handlingText({ policy: 'emergency-rotate', action: 'notify', reason: 'honeytoken', replacedBy: null, graceEndsAt: null, at, eventId: finding.id }),
    ).toBe('notify (honeytoken), policy emergency-rotate');
    expect(handlingText({ policy: 'rotate', action: 'rotate', reason: null, replacedBy: 'key_new', graceEndsAt: at, at, eventId: finding.id })).toBe(
      'rotate → key_new',
    );
  });

  it('says who acknowledged a finding and when', () => {
    expect(ackText(finding)).toBe('no');
    expect(ackText({ ...finding, acknowledged: { by: 'admin-key:key_a', at: '2026-12-06T11:00:00.000Z', note: null, eventId: finding.id } })).toBe(
      'admin-key:key_a at 2026-12-06T11:00:00.000Z',
    );
  });

  it('counts the findings and says when more matched than were shown', () => {
    expect(findingsTable({ findings: [], truncated: false })).toBe('0 finding(s)');
    const table = findingsTable({ findings: [finding], truncated: true });
    expect(table.split('\n')[0]).toMatch(/^1 finding\(s\) \(more matched/);
    expect(table).toContain(finding.id);
    expect(table).toContain('pending');
  });

  it("shows a source network's findings below the keys', with the denial that followed, and explains one", () => {
    const source: SourceAnomalyFinding = {
      id: '00000000-0000-4000-8000-000000000002',
      network: '203.0.113.0/24',
      tenant: 'acme',
      detector: 'enumeration',
      severity: 'high',
      detail: '40 unknown or malformed keys from 203.0.113.0/24 in 60 s',
      detectedAt: '2026-12-06T10:00:00.000Z',
      recordedAt: '2026-12-06T10:00:00.100Z',
      recordedBy: 'system:anomaly-detector',
      denied: { until: '2026-12-06T11:00:00.000Z', at: '2026-12-06T10:00:00.000Z', eventId: '00000000-0000-4000-8000-000000000003' },
    };
    const table = findingsTable({ findings: [finding], sources: [source], truncated: false });
    expect(table.split('\n')[0]).toBe('1 finding(s) and 1 from source networks');
    expect(table.indexOf(source.network)).toBeGreaterThan(table.indexOf(finding.keyId));
    expect(table).toContain('deny until 2026-12-06T11:00:00.000Z');
    expect(findingsTable({ findings: [], sources: [{ ...source, denied: null }], truncated: false })).toContain('notify');
    const explained = explanationText({ source, detector: { name: 'enumeration', watches: 'unknown keys', defaultThresholds: '20 in 1 min' } });
    expect(explained).toContain('203.0.113.0/24');
    expect(explained).toContain('deny until 2026-12-06T11:00:00.000Z');
  });

  it('shows the evidence the detector recorded, its baseline among it, beside the default thresholds', () => {
    const explained = explanationText({
      finding: { ...finding, kind: 'error-rate', severity: 'medium', evidence: { denied: 3, windowMs: 60000, usualDenied: 0.04 } },
      detector: { name: 'probing', watches: 'refused calls on one key', defaultThresholds: '3 in 1 min' },
      key: { status: 'active', owner: 'billing', hint: 'kl_live_…abcd', honeytoken: false },
    });
    expect(explained).toContain('denied 3, windowMs 60000, usualDenied 0.04');
    expect(explanationText({ finding, detector: { name: 'honeytoken', watches: 'any use', defaultThresholds: null }, key: null })).not.toContain('evidence');
  });
});
