import fc from 'fast-check';
import { DomainError } from './domain-error.js';
import { decideKey } from './key-decider.js';
import type { IssueKey } from './key-decider.js';
import { evolveKey } from './key-record.js';
import {
  consumeCredits,
  creditPeriodEnd,
  creditPeriodStart,
  creditStateOf,
  formatRefill,
  parseRefill,
  recordCredits,
  remainingCredits,
  topUpCredits,
} from './credits.js';
import type { CreditState } from './credits.js';

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
const at = (iso: string): number => Date.parse(iso);
const daily = { amount: 100, interval: 'daily' } as const;
const monthly15 = { amount: 500, interval: 'monthly', dayOfMonth: 15 } as const;

describe('credit periods', () => {
  it('starts daily periods at UTC midnight and monthly ones at 00:00 UTC on their day', () => {
    expect(creditPeriodStart(daily, at('2026-03-10T17:45:00Z'))).toBe(at('2026-03-10T00:00:00Z'));
    expect(creditPeriodStart(monthly15, at('2026-03-15T00:00:00Z'))).toBe(at('2026-03-15T00:00:00Z'));
    expect(creditPeriodStart(monthly15, at('2026-03-14T23:59:59Z'))).toBe(at('2026-02-15T00:00:00Z'));
    expect(creditPeriodStart(monthly15, at('2026-01-02T00:00:00Z'))).toBe(at('2025-12-15T00:00:00Z'));
    expect(creditPeriodStart({ amount: 1, interval: 'monthly' }, at('2026-03-10T00:00:00Z'))).toBe(at('2026-03-01T00:00:00Z'));
    expect(creditPeriodStart(undefined, at('2026-03-10T00:00:00Z'))).toBe(0);
    expect(creditPeriodEnd(monthly15, at('2025-12-15T00:00:00Z'))).toBe(at('2026-01-15T00:00:00Z'));
    expect(creditPeriodEnd(undefined, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('puts every instant in exactly one period, which ends where the next begins', () => {
    const refills = fc.oneof(
      fc.constant(daily),
      fc.integer({ min: 1, max: 28 }).map((dayOfMonth) => ({ amount: 1, interval: 'monthly' as const, dayOfMonth })),
    );
    fc.assert(
      fc.property(refills, fc.integer({ min: at('2000-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z') }), (refill, now) => {
        const start = creditPeriodStart(refill, now);
        const end = creditPeriodEnd(refill, start);
        expect(start).toBeLessThanOrEqual(now);
        expect(end).toBeGreaterThan(now);
        expect(creditPeriodStart(refill, end)).toBe(end);
        expect(creditPeriodStart(refill, end - 1)).toBe(start);
      }),
    );
  });

  it('parses AMOUNT/daily and AMOUNT/monthly[@DAY] and refuses anything else', () => {
    expect(parseRefill('1000/daily')).toEqual({ amount: 1000, interval: 'daily' });
    expect(parseRefill(' 5000/monthly@15 ')).toEqual({ amount: 5000, interval: 'monthly', dayOfMonth: 15 });
    expect(formatRefill({ amount: 5000, interval: 'monthly', dayOfMonth: 15 })).toBe('5000/monthly@15');
    for (const bad of ['1000', '1000/weekly', '10/daily@3', '10/monthly@29', '10/monthly@0', '-1/daily', '1.5/daily']) expect(parseRefill(bad)).toBeUndefined();
  });
});

describe('credit balance', () => {
  const start = at('2026-03-10T00:00:00Z');
  const state: CreditState = creditStateOf({ remaining: 40, refill: daily, periodStart: start });

  it('subtracts consumption and adds top-ups within the period', () => {
    const after = topUpCredits(consumeCredits(consumeCredits(state, start, 15), start, 5), start, 30);
    expect(remainingCredits(after, start + 1000)).toBe(50);
  });

  it('resets to the refill amount at the next boundary, and ignores what belongs to a past period', () => {
    const next = start + 86_400_000;
    expect(remainingCredits(state, next)).toBe(100);
    const later = consumeCredits(consumeCredits(state, next, 7), start, 30);
    expect(remainingCredits(later, next + 1)).toBe(93);
    expect(remainingCredits(topUpCredits(later, next, 10), next + 1)).toBe(103);
  });

  it('never shows a negative balance', () => {
    expect(remainingCredits(consumeCredits(state, start, 45), start)).toBe(0);
  });

  it('folds to the period grant minus what was consumed in it, however the consumption is batched', () => {
    // Verifiers flush in batches of any size, in period order per key: only the sums per period matter.
    const uses = fc
      .array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 20 })), { maxLength: 40 })
      .map((list) => list.sort((a, b) => a[0] - b[0]));
    fc.assert(
      fc.property(uses, (list) => {
        const one = list.reduce((s, [day, amount]) => consumeCredits(s, start + day * 86_400_000, amount), state);
        const lastDay = Math.max(0, ...list.map(([day]) => day));
        const batched = [0, 1, 2].reduce((s, day) => {
          const sum = list.filter(([d]) => d === day).reduce((total, [, amount]) => total + amount, 0);
          return sum > 0 ? consumeCredits(s, start + day * 86_400_000, sum) : s;
        }, state);
        const lastSum = list.filter(([d]) => d === lastDay).reduce((total, [, amount]) => total + amount, 0);
        const now = start + lastDay * 86_400_000;
        const expected = Math.max(0, (lastDay === 0 ? 40 : 100) - lastSum);
        expect(remainingCredits(one, now)).toBe(expected);
        expect(remainingCredits(batched, now)).toBe(expected);
      }),
    );
  });
});

describe('quota commands', () => {
  const now = new Date('2026-03-10T12:00:00Z');

  it('issues a key with credits for the current period, tops it up, sets it again and removes it', () => {
    const [issued] = decideKey({ ...issue, credits: { remaining: 10, refill: daily } }, undefined, now);
    expect(issued!.type === 'KeyIssued' && issued.data.credits).toEqual({ remaining: 10, refill: daily, periodStart: at('2026-03-10T00:00:00Z') });
    let record = evolveKey(undefined, issued!)!;
    const [toppedUp] = decideKey({ type: 'TopUpCredits', keyId: issue.keyId, amount: 5 }, record, now);
    record = evolveKey(record, toppedUp!)!;
    expect(remainingCredits(record.credits!, now.getTime())).toBe(15);
    expect(record.version).toBe(2);
    const [set] = decideKey({ type: 'UpdateKey', keyId: issue.keyId, credits: { remaining: 3 } }, record, now);
    record = evolveKey(record, set!)!;
    expect(record.credits).toEqual({ refill: undefined, periodStart: 0, granted: 3, consumed: 0 });
    const [removed] = decideKey({ type: 'UpdateKey', keyId: issue.keyId, credits: null }, record, now);
    expect(evolveKey(record, removed!)!.credits).toBeUndefined();
    expect(decideKey({ type: 'UpdateKey', keyId: issue.keyId, credits: null }, evolveKey(record, removed!), now)).toEqual([]);
  });

  it('refuses a top-up of a key without a quota, and a daily refill with a day of month', () => {
    const record = evolveKey(undefined, decideKey(issue, undefined, now)[0]!)!;
    expect(record.credits).toBeUndefined();
    expect(() => decideKey({ type: 'TopUpCredits', keyId: issue.keyId, amount: 5 }, record, now)).toThrow(DomainError);
    expect(() => recordCredits({ remaining: 1, refill: { amount: 1, interval: 'daily', dayOfMonth: 3 } }, now.getTime())).toThrow(DomainError);
  });
});
