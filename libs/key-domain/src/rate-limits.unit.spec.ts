import fc from 'fast-check';
import { DomainError } from './domain-error.js';
import { decideKey } from './key-decider.js';
import type { IssueKey } from './key-decider.js';
import { evolveKey } from './key-record.js';
import { normaliseRateLimits, parseRateLimit, shareOfRemaining, windowStart } from './rate-limits.js';

const issue: IssueKey = {
  type: 'IssueKey',
  keyId: 'key_01jdaaaaaaaaaaaaaaaaaaaaaa',
  tenant: 'acme',
  owner: 'svc',
  environment: 'live',
  prefix: 'kl',
  digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
  hint: 'kl_live_…abcd',
  scopes: [],
  ipAllowlist: [],
  metadata: {},
};
const now = new Date('2026-01-01T00:00:00Z');

describe('rate limits', () => {
  it('parses LIMIT/WINDOW and refuses anything else', () => {
    expect(parseRateLimit('100/1s')).toEqual({ limit: 100, windowMs: 1000 });
    expect(parseRateLimit('10000/1d')).toEqual({ limit: 10_000, windowMs: 86_400_000 });
    expect(parseRateLimit(' 5/15m ')).toEqual({ limit: 5, windowMs: 900_000 });
    for (const bad of ['100', '100/s', '/1s', '1.5/1s', '100/1w', '-1/1s', '100/1s/2']) expect(parseRateLimit(bad)).toBeUndefined();
  });

  it('shares any remainder among any number of replicas exactly, the lowest ranks taking the odd ones', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 10_000 }), fc.integer({ min: 1, max: 20 }), (remaining, members) => {
        const shares = Array.from({ length: members }, (_, rank) => shareOfRemaining(remaining, members, rank));
        expect(shares.reduce((a, b) => a + b, 0)).toBe(Math.max(0, remaining));
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('aligns windows to the epoch, so every replica agrees on them', () => {
    expect(windowStart(1_700_000_123_456, 1000)).toBe(1_700_000_123_000);
    expect(windowStart(1_700_000_123_456, 86_400_000)).toBe(1_699_920_000_000);
  });

  it('keeps at most five limits, one per window, sorted by window', () => {
    expect(
      normaliseRateLimits([
        { limit: 10_000, windowMs: 86_400_000 },
        { limit: 100, windowMs: 1000 },
      ]),
    ).toEqual([
      { limit: 100, windowMs: 1000 },
      { limit: 10_000, windowMs: 86_400_000 },
    ]);
    expect(() =>
      normaliseRateLimits([
        { limit: 1, windowMs: 1000 },
        { limit: 2, windowMs: 1000 },
      ]),
    ).toThrow(DomainError);
    expect(() => normaliseRateLimits(Array.from({ length: 6 }, (_, i) => ({ limit: 1, windowMs: (i + 1) * 1000 })))).toThrow(DomainError);
  });

  it('issues a key with its limits, replaces them with an update, and records nothing when they do not change', () => {
    const [issued] = decideKey({ ...issue, rateLimits: [{ limit: 100, windowMs: 1000 }] }, undefined, now);
    const record = evolveKey(undefined, issued!)!;
    expect(record.rateLimits).toEqual([{ limit: 100, windowMs: 1000 }]);
    expect(decideKey({ type: 'UpdateKey', keyId: issue.keyId, rateLimits: [{ limit: 100, windowMs: 1000 }] }, record, now)).toEqual([]);
    const [updated] = decideKey({ type: 'UpdateKey', keyId: issue.keyId, rateLimits: [] }, record, now);
    expect(evolveKey(record, updated!)?.rateLimits).toEqual([]);
    // A key issued without limits records none (older events have no such field).
    expect(evolveKey(undefined, decideKey(issue, undefined, now)[0]!)?.rateLimits).toEqual([]);
  });
});
