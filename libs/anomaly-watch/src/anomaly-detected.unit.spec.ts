import { anomalyDetectedSchema } from '@keyledger/contracts';
import type { AnomalyFinding } from '@keyledger/anomaly-detection';
import { anomalyDetectedOf, findingId } from './anomaly-watch.js';

const KEY = 'key_01jqaaaaaaaaaaaaaaaaaaaaaa';
const AT = Date.UTC(2026, 0, 1);

const honeytokenFinding = (call: AnomalyFinding['call']): AnomalyFinding => ({
  detector: 'honeytoken',
  severity: 'critical',
  subject: { kind: 'key', keyId: KEY, tenant: 'acme' },
  at: AT,
  windowStart: AT,
  network: undefined,
  detail: 'a honeytoken was presented over nats',
  evidence: {},
  call,
});

describe('a finding as AnomalyDetected', () => {
  it('records a honeytoken as kind honeytoken, critical, with the call that tripped it', () => {
    const anomaly = anomalyDetectedOf(honeytokenFinding({ at: AT, ip: '198.51.100.7', transport: 'nats', scopes: ['orders:read'] }), new Date(AT + 5));
    expect(anomaly).toEqual({
      keyId: KEY,
      tenant: 'acme',
      kind: 'honeytoken',
      severity: 'critical',
      detail: 'honeytoken: a honeytoken was presented over nats',
      detectedAt: new Date(AT + 5).toISOString(),
      call: { at: new Date(AT).toISOString(), ip: '198.51.100.7', transport: 'nats', scopes: ['orders:read'] },
      detector: 'honeytoken',
      evidence: { windowStart: new Date(AT).toISOString() },
    });
    expect(anomalyDetectedSchema.parse(anomaly)).toEqual(anomaly);
  });

  it('makes what the caller sent printable, so the event is always recorded', () => {
    const anomaly = anomalyDetectedOf(honeytokenFinding({ at: AT, ip: '10.0.0.1\u001b[2J', transport: undefined, scopes: ['a\nb', ''] }), new Date(AT));
    expect(anomalyDetectedSchema.parse(anomaly).call).toEqual({ at: new Date(AT).toISOString(), ip: '10.0.0.1\ufffd[2J', scopes: ['a\ufffdb'] });
  });
});

describe('a finding’s id', () => {
  it('is the same for the same finding, and differs for a worse one crossed by calls of the same instant', () => {
    const slow: AnomalyFinding = {
      detector: 'enumeration',
      severity: 'medium',
      subject: { kind: 'source', network: '203.0.113.0/24', tenant: 'acme' },
      at: AT,
      windowStart: AT - 60_000,
      network: '203.0.113.0/24',
      detail: '4 unknown or malformed keys from 203.0.113.0/24 in 60 s',
      evidence: {},
    };
    expect(findingId({ ...slow })).toBe(findingId(slow));
    expect(findingId({ ...slow, severity: 'high' })).not.toBe(findingId(slow));
  });

  it('keeps the numbers behind the finding, the baseline among them, and leaves out what the event could not hold', () => {
    const probing: AnomalyFinding = {
      ...honeytokenFinding(undefined),
      detector: 'probing',
      severity: 'medium',
      detail: '3 refused calls in 1 min against 0.04 usual',
      evidence: {
        denied: 3,
        windowMs: 60_000,
        usualDenied: 0.04,
        network: '198.51.100.0/24\u001b',
        'not a name': 1,
        huge: Number.POSITIVE_INFINITY,
        ...Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`extra${index}`, index])),
      },
    };
    const anomaly = anomalyDetectedOf(probing, new Date(AT));
    expect(anomalyDetectedSchema.parse(anomaly).evidence).toMatchObject({
      windowStart: new Date(AT).toISOString(),
      denied: 3,
      windowMs: 60_000,
      usualDenied: 0.04,
      network: '198.51.100.0/24\ufffd',
    });
    expect(Object.keys(anomaly?.evidence ?? {})).toHaveLength(16);
    expect(anomaly?.evidence).not.toHaveProperty('huge');
    // A finding with no numbers of its own still says the window it counted over.
    expect(anomalyDetectedOf(honeytokenFinding(undefined), new Date(AT))?.evidence).toEqual({ windowStart: new Date(AT).toISOString() });
  });
});
