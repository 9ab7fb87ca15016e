import { KeyIndex, KeyVersionGapError } from './key-index.js';
import { decodeKeyIndex, encodeKeyIndex } from './key-index-snapshot.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const HOUR = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();

const denied = (streamVersion: number, until: number, at = T0) => ({
  type: 'SourceNetworkDenied',
  streamVersion,
  occurredAt: iso(at),
  data: { network: '203.0.113.0/24', tenant: 'acme', until: iso(until), reason: 'operator', deniedBy: 'admin-key:key_a', at: iso(at) },
});
const allowed = (streamVersion: number, at = T0) => ({
  type: 'SourceNetworkAllowed',
  streamVersion,
  occurredAt: iso(at),
  data: { network: '203.0.113.0/24', tenant: 'acme', allowedBy: 'admin-key:key_a', at: iso(at) },
});

describe('source network denials in the key index', () => {
  it('applies a network stream in version order: a repeated or older event changes nothing, a gap stops', () => {
    const index = new KeyIndex();
    expect(index.apply(denied(1, T0 + HOUR))).toBe(true);
    expect(index.apply(allowed(2))).toBe(true);
    // The denial re-sent after its lift (a redelivery) must not deny again.
    expect(index.apply(denied(1, T0 + HOUR))).toBe(false);
    expect(index.networkDenials.denies('203.0.113.9', 'acme', T0)).toBe(false);
    expect(() => index.apply(denied(4, T0 + HOUR))).toThrow(KeyVersionGapError);
  });

  it('takes an enumeration found from the network in the stream’s order, denying nothing by it', () => {
    const index = new KeyIndex();
    const found = (streamVersion: number) => ({
      type: 'SourceAnomalyDetected',
      streamVersion,
      occurredAt: iso(T0),
      data: { network: '203.0.113.0/24', tenant: 'acme', detector: 'enumeration', severity: 'high', detail: 'x', detectedAt: iso(T0) },
    });
    expect(index.apply(found(1))).toBe(true);
    expect(index.networkDenials.denies('203.0.113.9', 'acme', T0)).toBe(false);
    expect(index.apply(denied(2, T0 + HOUR))).toBe(true);
    expect(index.networkDenials.denies('203.0.113.9', 'acme', T0)).toBe(true);
    expect(index.apply(found(1))).toBe(false);
    expect(() => index.apply(found(4))).toThrow(KeyVersionGapError);
  });

  it('forgets an ended denial by the time of the events it applies, not the wall clock, and keeps one in force across a snapshot', () => {
    const index = new KeyIndex();
    index.apply(denied(1, T0 + HOUR));
    const restored = new KeyIndex();
    decodeKeyIndex(encodeKeyIndex(index), restored);
    expect(restored.networkDenials.denies('203.0.113.9', 'acme', T0 + 1000)).toBe(true);
    expect(restored.apply(denied(1, T0 + HOUR))).toBe(false);
    // Ended, but the events' time has not passed its end and the margin: still held.
    restored.apply({ type: 'KeyLeakReported', streamVersion: 9, occurredAt: iso(T0 + 1.5 * HOUR), data: { keyId: 'key_00000000000000000000000000' } });
    expect(restored.networkDenials.size).toBe(1);
    restored.apply({ type: 'KeyLeakReported', streamVersion: 9, occurredAt: iso(T0 + 2 * HOUR), data: { keyId: 'key_00000000000000000000000000' } });
    expect(restored.networkDenials.size).toBe(0);
  });
});
