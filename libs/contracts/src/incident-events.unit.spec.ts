import { anomalyAckRequestSchema } from './anomaly-findings-api.js';
import { checkEventData } from './event-data-schemas.js';
import { reportLeakRequestSchema, setIncidentPolicyRequestSchema } from './incident-api.js';
import {
  KEY_ANOMALY_DETECTORS,
  MAX_ANOMALY_RULES,
  anomalyDetectedSchema,
  incidentPolicySetSchema,
  keyIncidentHandledSchema,
  keyLeakReportedSchema,
  leakSourceSchema,
  unreachableAnomalyRule,
} from './incident-events.js';
import { parseKeyEvent } from './key-event-schemas.js';
import { notificationSubject } from './subjects.js';

const KEY_ID = 'key_01jdaaaaaaaaaaaaaaaaaaaaaa';
const AT = '2030-01-01T00:00:00.000Z';

describe('incident schemas', () => {
  it('takes a leak source that names a file, a repository, a url or a description, and nothing without one', () => {
    expect(leakSourceSchema.safeParse({ file: 'src/a.ts', line: 3, column: 7, commit: 'a1b2c3d', repository: 'acme/app' }).success).toBe(true);
    expect(leakSourceSchema.safeParse({ url: 'https://paste.example/x' }).success).toBe(true);
    expect(leakSourceSchema.safeParse({ description: 'pasted in the #ops channel' }).success).toBe(true);
    expect(leakSourceSchema.safeParse({ line: 3, commit: 'a1b2c3d' }).success).toBe(false);
    expect(leakSourceSchema.safeParse({}).success).toBe(false);
  });

  it('refuses sources out of bounds: control characters, long text, odd commits, non-web urls, unknown fields', () => {
    for (const source of [
      { file: 'a\nb' },
      { description: 'x'.repeat(1001) },
      { file: 'x'.repeat(1025) },
      { file: 'a', commit: 'XYZ' },
      { file: 'a', line: 0 },
      { url: 'javascript:alert(1)' },
      { url: 'file:///etc/passwd' },
      { file: 'a', key: 'kl_live_x' },
    ])
      expect(leakSourceSchema.safeParse(source).success).toBe(false);
  });

  it('asks a leak report for either the key or its id, not both, not neither', () => {
    const source = { file: 'a.env' };
    expect(reportLeakRequestSchema.safeParse({ key: 'kl_live_x', source }).success).toBe(true);
    expect(reportLeakRequestSchema.safeParse({ keyId: KEY_ID, source }).success).toBe(true);
    expect(reportLeakRequestSchema.safeParse({ key: 'kl_live_x', keyId: KEY_ID, source }).success).toBe(false);
    expect(reportLeakRequestSchema.safeParse({ source }).success).toBe(false);
    expect(reportLeakRequestSchema.safeParse({ key: 'x'.repeat(513), source }).success).toBe(false);
  });

  it('reads the incident events of a key stream as key events, and nothing malformed', () => {
    const leak = { keyId: KEY_ID, tenant: 'acme', source: { file: 'a.env', line: 1 }, evidence: 'plaintext', reportedBy: 'admin-key:key_x', at: AT };
    expect(keyLeakReportedSchema.parse(leak)).toEqual(leak);
    expect(parseKeyEvent('KeyLeakReported', 1, leak)).toEqual({ type: 'KeyLeakReported', data: leak });
    expect(parseKeyEvent('KeyLeakReported', 1, { ...leak, key: 'kl_live_…' })).toBeUndefined();
    const anomaly = { keyId: KEY_ID, tenant: 'acme', kind: 'usage-spike', severity: 'high', detail: '1200/min against 40', detectedAt: AT };
    expect(anomalyDetectedSchema.parse(anomaly)).toEqual(anomaly);
    expect(anomalyDetectedSchema.safeParse({ ...anomaly, severity: 'severe' }).success).toBe(false);
    const handled = {
      keyId: KEY_ID,
      tenant: 'acme',
      incident: { type: 'KeyLeakReported', eventId: '0190f4c6-0000-7000-8000-000000000001' },
      policy: 'rotate',
      action: 'rotate',
      replacedBy: 'key_01jdbbbbbbbbbbbbbbbbbbbbbb',
      graceEndsAt: AT,
      at: AT,
    };
    expect(parseKeyEvent('KeyIncidentHandled', 1, handled)).toEqual({ type: 'KeyIncidentHandled', data: handled });
    expect(keyIncidentHandledSchema.safeParse({ ...handled, action: 'delete' }).success).toBe(false);
  });

  it('reads an acknowledgement of a finding as a key event, with a one-line note, and nothing more', () => {
    const ack = {
      keyId: KEY_ID,
      tenant: 'acme',
      findingId: '0190f4c6-0000-7000-8000-000000000001',
      acknowledgedBy: 'admin-key:key_x',
      note: 'a pen test',
      at: AT,
    };
    expect(parseKeyEvent('AnomalyAcknowledged', 1, ack)).toEqual({ type: 'AnomalyAcknowledged', data: ack });
    expect(checkEventData('AnomalyAcknowledged', 1, ack)).toBeUndefined();
    for (const bad of [
      { ...ack, note: 'a\nb' },
      { ...ack, note: '' },
      { ...ack, findingId: 'x' },
      { ...ack, action: 'revoke' },
    ])
      expect(parseKeyEvent('AnomalyAcknowledged', 1, bad)).toBeUndefined();
    expect(anomalyAckRequestSchema.safeParse({ id: ack.findingId, note: 'x'.repeat(1001) }).success).toBe(false);
  });

  it('lets a leak be anything but ignored, and an anomaly be ignored', () => {
    expect(incidentPolicySetSchema.safeParse({ tenant: 'acme', onLeak: 'none', onAnomaly: null, graceMs: null }).success).toBe(false);
    expect(incidentPolicySetSchema.safeParse({ tenant: 'acme', onLeak: null, onAnomaly: 'none', graceMs: 0 }).success).toBe(true);
    expect(setIncidentPolicyRequestSchema.parse({ tenant: 'acme', onLeak: 'suspend' })).toEqual({
      tenant: 'acme',
      onLeak: 'suspend',
      onAnomaly: null,
      graceMs: null,
    });
    expect(setIncidentPolicyRequestSchema.safeParse({ tenant: 'acme', graceMs: 91 * 86_400_000 }).success).toBe(false);
  });

  it('takes anomaly rules by detector and severity, bounded, refusing an unknown detector and a rule no finding can reach', () => {
    const set = (anomalyRules: unknown) => setIncidentPolicyRequestSchema.safeParse({ tenant: 'acme', anomalyRules });
    const rules = [
      { detector: 'probing', minSeverity: 'high', action: 'suspend' },
      { minSeverity: 'medium', action: 'notify' },
    ];
    expect(set(rules).data?.anomalyRules).toEqual(rules);
    expect(set([]).success).toBe(true);
    expect(set(null).success).toBe(true);
    const unknown = set([{ detector: 'guessing', action: 'notify' }]);
    expect(unknown.error?.issues[0]?.message).toMatch(/^unknown detector "guessing": one of rate-spike, .*onEnumeration/);
    expect(set([{ detector: 'enumeration', action: 'notify' }]).error?.issues[0]?.message).toMatch(/unknown detector "enumeration"/);
    expect(set([{ minSeverity: 'urgent', action: 'notify' }]).success).toBe(false);
    expect(set([{ action: 'revoke' }]).success).toBe(false);
    expect(set([{ action: 'notify', note: 'x' }]).success).toBe(false);
    expect(set(Array.from({ length: MAX_ANOMALY_RULES + 1 }, (_, i) => ({ detector: KEY_ANOMALY_DETECTORS[i % 7], action: 'notify' }))).success).toBe(false);
    const shadowed = set([
      { minSeverity: 'medium', action: 'notify' },
      { minSeverity: 'high', action: 'suspend' },
    ]);
    expect(shadowed.error?.issues[0]).toMatchObject({
      path: ['anomalyRules', 1],
      message: expect.stringMatching(/^anomaly rule 2 is never reached: rule 1 matches every finding it does/) as unknown,
    });
    expect(set([{ action: 'none' }, { detector: 'honeytoken', action: 'notify' }]).success).toBe(false);
    expect(set([{ detector: 'probing', action: 'none' }, { detector: 'honeytoken', action: 'notify' }, { action: 'suspend' }]).success).toBe(true);
    expect(
      unreachableAnomalyRule([
        { detector: 'probing', minSeverity: 'high', action: 'notify' },
        { detector: 'probing', action: 'none' },
      ]),
    ).toBeUndefined();
  });

  it('reads an incident policy or an anomaly recorded before anomaly rules as having none', () => {
    const before = incidentPolicySetSchema.parse({
      tenant: 'acme',
      onLeak: null,
      onAnomaly: 'suspend',
      graceMs: null,
      onEnumeration: 'deny',
      denyForMs: 60_000,
    });
    expect(before.anomalyRules).toBeUndefined();
    const anomaly = { keyId: KEY_ID, tenant: 'acme', kind: 'error-rate', severity: 'high', detectedAt: AT };
    expect(anomalyDetectedSchema.safeParse(anomaly).success).toBe(true);
    expect(anomalyDetectedSchema.safeParse({ ...anomaly, detector: 'probing' }).success).toBe(true);
    expect(anomalyDetectedSchema.safeParse({ ...anomaly, detector: 'enumeration' }).success).toBe(false);
  });

  it('notifies each tenant on its own subject', () => {
    expect(notificationSubject('keyledger', 'acme')).toBe('keyledger.v1.notifications.acme');
    expect(() => notificationSubject('keyledger', 'a.b')).toThrow(RangeError);
  });
});
