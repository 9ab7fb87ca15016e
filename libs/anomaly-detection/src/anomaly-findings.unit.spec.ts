import type { AnomalyFinding, EventEnvelope } from '@keyledger/contracts';
import { DEFAULT_ANOMALY_SETTINGS } from './anomaly-settings.js';
import {
  ANOMALY_DETECTOR_ACTOR,
  anomalyDetectorOf,
  detectorOfFinding,
  explainDetector,
  findingEventTypes,
  findingOf,
  findingsOfStream,
  matchesFindingFilter,
  matchesSourceFilter,
  newestFirst,
} from './anomaly-findings.js';

const KEY = 'key_01jd0000000000000000000000';
const ANOMALY_1 = '00000000-0000-4000-8000-000000000001';
const ANOMALY_2 = '00000000-0000-4000-8000-000000000002';

let version = 0;
function event(
  type: string,
  data: Record<string, unknown>,
  eventId: string,
  actor = ANOMALY_DETECTOR_ACTOR,
  occurredAt = '2026-12-06T10:00:00.000Z',
): EventEnvelope {
  version += 1;
  return {
    eventId,
    type,
    schemaVersion: 1,
    streamId: `key-${KEY}`,
    streamVersion: version,
    occurredAt,
    data,
    metadata: { actor, correlationId: 'c', causationId: 'c' },
    hash: '0'.repeat(64),
    transactionId: '1',
    position: String(version),
  };
}

const anomaly = (eventId: string, fields: Record<string, unknown> = {}, actor?: string, at?: string) =>
  event(
    'AnomalyDetected',
    {
      keyId: KEY,
      tenant: 'acme',
      kind: 'honeytoken',
      severity: 'critical',
      detail: 'honeytoken: presented',
      detectedAt: '2026-12-06T10:00:00.000Z',
      ...fields,
    },
    eventId,
    actor,
    at,
  );
const handled = (incidentId: string, eventId: string) =>
  event(
    'KeyIncidentHandled',
    {
      keyId: KEY,
      tenant: 'acme',
      incident: { type: 'AnomalyDetected', eventId: incidentId },
      policy: 'emergency-rotate',
      action: 'notify',
      reason: 'honeytoken',
      at: '2026-12-06T10:00:01.000Z',
    },
    eventId,
    'system:rotator',
  );
const acknowledged = (findingId: string, eventId: string, by: string) =>
  event('AnomalyAcknowledged', { keyId: KEY, tenant: 'acme', findingId, acknowledgedBy: by, at: '2026-12-06T11:00:00.000Z' }, eventId, by);

describe('anomaly findings', () => {
  const stream = [
    event('KeyIssued', { keyId: KEY, tenant: 'acme' }, '00000000-0000-4000-8000-00000000000a', 'admin-key:key_root'),
    anomaly(ANOMALY_1),
    handled(ANOMALY_1, '00000000-0000-4000-8000-00000000000b'),
    anomaly(ANOMALY_2, { kind: 'usage-spike', severity: 'high', detail: 'rate-spike: 900 calls in 10 s' }, undefined, '2026-12-06T10:05:00.000Z'),
    acknowledged(ANOMALY_1, '00000000-0000-4000-8000-00000000000c', 'admin-key:key_alice'),
    // Never appended by the issuer (it answers ALREADY_ACKNOWLEDGED), but a stream holding one must not change the first.
    acknowledged(ANOMALY_1, '00000000-0000-4000-8000-00000000000d', 'admin-key:key_bob'),
  ];

  it("joins each AnomalyDetected with the rotator's handling and the first acknowledgement of it, and no other", () => {
    const [first, second] = findingsOfStream(stream);
    expect(first).toMatchObject({
      id: ANOMALY_1,
      kind: 'honeytoken',
      recordedBy: ANOMALY_DETECTOR_ACTOR,
      handled: { policy: 'emergency-rotate', action: 'notify', reason: 'honeytoken', replacedBy: null, eventId: '00000000-0000-4000-8000-00000000000b' },
      acknowledged: { by: 'admin-key:key_alice', note: null, eventId: '00000000-0000-4000-8000-00000000000c' },
    });
    expect(second).toMatchObject({ id: ANOMALY_2, kind: 'usage-spike', handled: null, acknowledged: null, call: null });
  });

  it('refuses to make a finding of another event', () => {
    expect(() => findingOf(stream[0]!, stream)).toThrow(RangeError);
  });

  it('filters by kind, severity and acknowledgement, and orders newest first', () => {
    const findings = findingsOfStream(stream);
    expect(findings.filter((finding) => matchesFindingFilter(finding, { unacked: true })).map((finding) => finding.id)).toEqual([ANOMALY_2]);
    expect(findings.filter((finding) => matchesFindingFilter(finding, { kind: 'honeytoken', severity: 'high' }))).toEqual([]);
    expect(findings.filter((finding) => matchesFindingFilter(finding, {}))).toHaveLength(2);
    expect([...findings].sort(newestFirst).map((finding) => finding.id)).toEqual([ANOMALY_2, ANOMALY_1]);
  });

  it('names the detector from the detail it wrote, its kind otherwise, and a report for any other actor', () => {
    const [honeytoken, spike] = findingsOfStream(stream) as [AnomalyFinding, AnomalyFinding];
    expect(detectorOfFinding(honeytoken)).toBe('honeytoken');
    expect(detectorOfFinding(spike)).toBe('rate-spike');
    expect(detectorOfFinding({ ...spike, detail: null, kind: 'error-rate' })).toBe('probing');
    // The detector a finding names comes first; an operator's report names none, whatever it says.
    expect(anomalyDetectorOf({ detector: 'off-hours', detail: 'probing: x', kind: 'error-rate' }, ANOMALY_DETECTOR_ACTOR)).toBe('off-hours');
    expect(anomalyDetectorOf({ detector: 'probing', detail: 'probing: x', kind: 'error-rate' }, 'admin-key:key_alice')).toBeUndefined();
    const reported = findingOf(anomaly(ANOMALY_1, { kind: 'other' }, 'admin-key:key_alice'), []);
    expect(explainDetector(reported, DEFAULT_ANOMALY_SETTINGS)).toEqual({
      name: 'report',
      watches: 'reported by admin-key:key_alice',
      defaultThresholds: null,
    });
  });

  it('quotes the thresholds it is given', () => {
    const [, spike] = findingsOfStream(stream) as [AnomalyFinding, AnomalyFinding];
    const rate = { ...DEFAULT_ANOMALY_SETTINGS.rate, windowMs: 60_000, floor: 7 };
    expect(explainDetector(spike, { ...DEFAULT_ANOMALY_SETTINGS, rate }).defaultThresholds).toMatch(
      /^window 1 min; .* at least 7 calls; after 1 d of history$/,
    );
    expect(explainDetector({ ...spike, detail: 'dormant-key-use: quiet', kind: 'dormant-key-use' }, DEFAULT_ANOMALY_SETTINGS).defaultThresholds).toBe(
      'a call after 30 d without one',
    );
  });

  it('asks the store only for the finding events a filter can match: a kind, a key detector, a key or the unacknowledged are key findings', () => {
    expect(findingEventTypes({})).toEqual(['AnomalyDetected', 'SourceAnomalyDetected']);
    expect(findingEventTypes({ severity: 'high' })).toEqual(['AnomalyDetected', 'SourceAnomalyDetected']);
    for (const filter of [{ kind: 'usage-spike' }, { detector: 'probing' }, { keyId: KEY }, { unacked: true }] as const)
      expect(findingEventTypes(filter)).toEqual(['AnomalyDetected']);
    expect(findingEventTypes({ detector: 'enumeration' })).toEqual(['SourceAnomalyDetected']);
    expect(findingEventTypes({ detector: 'enumeration', keyId: KEY })).toEqual([]);
    expect(findingEventTypes({ detector: 'enumeration', unacked: true })).toEqual([]);
    // Nobody acknowledges a source finding: it is never one waiting for someone.
    const source = {
      id: ANOMALY_1,
      network: '203.0.113.0/24',
      tenant: 'acme',
      detector: 'enumeration',
      severity: 'high',
      detail: 'x',
      detectedAt: '2026-12-06T10:00:00.000Z',
      recordedAt: '2026-12-06T10:00:00.000Z',
      recordedBy: ANOMALY_DETECTOR_ACTOR,
      denied: null,
    } as const;
    expect(matchesSourceFilter(source, {})).toBe(true);
    expect(matchesSourceFilter(source, { unacked: true })).toBe(false);
  });
});
