import type { CreditRefill, CreditsSetting, RecordedCredits } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';

const DAY_MS = 86_400_000;

/**
 * A key's quota folded from events: the balance of one period. Consumption and top-ups of
 * a later period start that period afresh from the refill; those of an earlier one are past.
 */
export interface CreditState {
  readonly refill: CreditRefill | undefined;
  /** Start of the period the figures below are for (epoch ms; 0 for a key without refill). */
  readonly periodStart: number;
  /** The period's balance before consumption: the initial, set or refilled balance plus top-ups. */
  readonly granted: number;
  /** Credits consumed in the period since the balance was granted. */
  readonly consumed: number;
}

/**
 * Start of the credit period holding `now`: UTC midnight for daily refills, 00:00 UTC on
 * `dayOfMonth` (default 1) for monthly ones, 0 for a key that never refills (one period).
 */
export function creditPeriodStart(refill: CreditRefill | undefined, now: number): number {
  if (!refill) return 0;
  if (refill.interval === 'daily') return now - (now % DAY_MS);
  const day = refill.dayOfMonth ?? 1;
  const date = new Date(now);
  const thisMonth = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), day);
  return thisMonth <= now ? thisMonth : Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - 1, day);
}

/** When the period starting at `periodStart` ends: the next refill, or never. */
export function creditPeriodEnd(refill: CreditRefill | undefined, periodStart: number): number {
  if (!refill) return Number.POSITIVE_INFINITY;
  if (refill.interval === 'daily') return periodStart + DAY_MS;
  const date = new Date(periodStart);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, refill.dayOfMonth ?? 1);
}

/** Checks a quota a command sets (a day of month only with a monthly refill) and records it for the period holding `now`. */
export function recordCredits(setting: CreditsSetting, now: number): RecordedCredits {
  const refill = setting.refill;
  if (refill?.interval === 'daily' && refill.dayOfMonth !== undefined) throw new DomainError('INVALID_ARGUMENT', 'a daily refill has no day of month');
  return {
    remaining: setting.remaining,
    ...(refill ? { refill: { ...refill } } : {}),
    periodStart: creditPeriodStart(refill, now),
  };
}

/** The state an issue or update sets: the recorded balance, nothing consumed yet. */
export function creditStateOf(recorded: RecordedCredits): CreditState {
  return { refill: recorded.refill, periodStart: recorded.periodStart, granted: recorded.remaining, consumed: 0 };
}

/** The state in the period starting at `periodStart`: a later period starts from the refill. */
function inPeriod(state: CreditState, periodStart: number): CreditState {
  if (!state.refill || periodStart <= state.periodStart) return state;
  return { ...state, periodStart, granted: state.refill.amount, consumed: 0 };
}

/** Adds a top-up to its period's balance (a top-up of a period already past changes nothing). */
export function topUpCredits(state: CreditState, periodStart: number, amount: number): CreditState {
  const current = inPeriod(state, periodStart);
  return periodStart === current.periodStart ? { ...current, granted: current.granted + amount } : current;
}

/** Takes consumption verifiers flushed for a period (consumption of a period already past changes nothing). */
export function consumeCredits(state: CreditState, periodStart: number, amount: number): CreditState {
  const current = inPeriod(state, periodStart);
  return periodStart === current.periodStart ? { ...current, consumed: current.consumed + amount } : current;
}

/**
 * The balance of the period starting at `periodStart` as the events give it, negative if
 * overspent: the refill for a period no event has reached yet, 0 for a period already past.
 */
export function balanceOfPeriod(state: CreditState, periodStart: number): number {
  const current = inPeriod(state, periodStart);
  return periodStart === current.periodStart ? current.granted - current.consumed : 0;
}

/** The balance at `now`: a period with no recorded event yet holds the whole refill. */
export function remainingCredits(state: CreditState, now: number): number {
  const current = inPeriod(state, creditPeriodStart(state.refill, now));
  return Math.max(0, current.granted - current.consumed);
}

/** Parses `AMOUNT/daily`, `AMOUNT/monthly` or `AMOUNT/monthly@DAY` (day 1-28). */
export function parseRefill(text: string): CreditRefill | undefined {
  const match = /^(\d{1,13})\/(daily|monthly)(?:@(\d{1,2}))?$/.exec(text.trim());
  if (!match) return undefined;
  const day = match[3] === undefined ? undefined : Number(match[3]);
  if (day !== undefined && (match[2] !== 'monthly' || day < 1 || day > 28)) return undefined;
  return { amount: Number(match[1]), interval: match[2] as 'daily' | 'monthly', ...(day === undefined ? {} : { dayOfMonth: day }) };
}

/** A refill as people write it: `1000/daily`, `5000/monthly@15`. */
export function formatRefill(refill: CreditRefill): string {
  return `${refill.amount}/${refill.interval}${refill.dayOfMonth === undefined ? '' : `@${refill.dayOfMonth}`}`;
}
