import type { KeyRecord } from './key-record.js';
import { deliveryExpiresAt, deliveryRetryDelayMs, deliveryStillUseful, evolveOwnerWebhooks, ownerWebhookOf } from './key-delivery.js';

const HOUR = 3_600_000;

describe('delivery retry schedule', () => {
  const schedule = { minMs: 5000, maxMs: HOUR };

  it('doubles from the minimum after each send', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => deliveryRetryDelayMs(attempt, schedule))).toEqual([5000, 10_000, 20_000, 40_000, 80_000]);
  });

  it('never waits longer than the maximum, however many sends', () => {
    expect(deliveryRetryDelayMs(10, schedule)).toBe(2_560_000);
    expect(deliveryRetryDelayMs(11, schedule)).toBe(HOUR);
    expect(deliveryRetryDelayMs(1_000_000, schedule)).toBe(HOUR);
  });

  it('reads attempt 0 or less as the first', () => {
    expect(deliveryRetryDelayMs(0, schedule)).toBe(5000);
    expect(deliveryRetryDelayMs(-3, schedule)).toBe(5000);
  });
});

describe('delivery expiry', () => {
  const startedAt = Date.parse('2025-03-01T00:00:00Z');

  it('keeps a delivery until the old key’s grace end when that is later than the minimum', () => {
    expect(deliveryExpiresAt({ startedAt, graceEndsAt: startedAt + 72 * HOUR, keyExpiresAt: undefined, ttlMs: 24 * HOUR })).toBe(startedAt + 72 * HOUR);
  });

  it('keeps the delivery of an emergency rotation (no grace) for the minimum', () => {
    expect(deliveryExpiresAt({ startedAt, graceEndsAt: startedAt, keyExpiresAt: undefined, ttlMs: 24 * HOUR })).toBe(startedAt + 24 * HOUR);
  });

  it('never keeps a delivery past the delivered key’s own expiry', () => {
    expect(deliveryExpiresAt({ startedAt, graceEndsAt: startedAt + 72 * HOUR, keyExpiresAt: startedAt + HOUR, ttlMs: 24 * HOUR })).toBe(startedAt + HOUR);
  });
});

describe('whether a pending delivery is still useful', () => {
  const record = (status: KeyRecord['status'], expiresAt: number | undefined) => ({ status, expiresAt }) as KeyRecord;

  it('sends an active or suspended key, not a revoked or expired one', () => {
    expect(deliveryStillUseful(record('active', undefined), 10)).toBe(true);
    expect(deliveryStillUseful(record('suspended', 100), 10)).toBe(true);
    expect(deliveryStillUseful(record('revoked', undefined), 10)).toBe(false);
    expect(deliveryStillUseful(record('active', 10), 10)).toBe(false);
  });
});

describe('owner webhooks', () => {
  it('keeps the latest webhook per owner', () => {
    let table = evolveOwnerWebhooks(new Map(), { tenant: 'acme', owner: 'billing', url: 'https://a.example/hook', secretId: 'whk_01jd0000000000000000000000' });
    table = evolveOwnerWebhooks(table, { tenant: 'acme', owner: 'billing', url: 'https://b.example/hook', secretId: 'whk_01jd0000000000000000000001' });
    expect(ownerWebhookOf(table, 'billing')).toEqual({ url: 'https://b.example/hook', secretId: 'whk_01jd0000000000000000000001' });
    expect(ownerWebhookOf(table, 'orders')).toBeUndefined();
  });
});
