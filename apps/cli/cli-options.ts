import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import type { CreditRefill, CreditsSetting, RateLimit } from '@keyledger/contracts';
import { MAX_CREDITS, MAX_VERIFY_COST, verifyCostSchema } from '@keyledger/contracts';
import { MAX_KEY_LENGTH, parseRateLimit, parseRefill } from '@keyledger/key-domain';

type DurationUnit = 's' | 'm' | 'h' | 'd' | 'w';

const UNIT_MS: Readonly<Record<DurationUnit, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ALL_UNITS: readonly DurationUnit[] = ['s', 'm', 'h', 'd', 'w'];

/** `30d`, `12h`, `15m`, `45s`, `2w` in milliseconds, or undefined when `text` is not such a duration in one of `units`. */
export function durationMs(text: string, units: readonly DurationUnit[] = ALL_UNITS): number | undefined {
  const match = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  const unit = match?.[2] as DurationUnit | undefined;
  return match && unit && units.includes(unit) ? Number(match[1]) * UNIT_MS[unit] : undefined;
}

/** `30d`, `12h`, `15m`, `45s`, `2w` as an absolute ISO time from now. */
export function expiresIn(text: string): string {
  const ms = durationMs(text);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 30d, 12h, 15m or 45s');
  return new Date(Date.now() + ms).toISOString();
}

/** `--grace 1h`, `30m`, `7d`, `0s`: a duration in milliseconds. */
export function graceOption(text: string): number {
  const ms = durationMs(text);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 1h, 30m, 7d or 0s');
  return ms;
}

/** `--quiet-period 15m` or `none`. */
export function quietPeriodOption(text: string): number | 'none' {
  if (text.trim() === 'none') return 'none';
  const ms = graceOption(text);
  if (ms < 1000) throw new InvalidArgumentError('expected a duration of at least 1s, or none');
  return ms;
}

/** Collects a repeatable option (`--allow-ip A --allow-ip B`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--scopes a,b` as a list. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/** Collects `--meta k=v` into an object. */
export function metaEntry(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected key=value');
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** Collects `--rate-limit 100/1s` (repeatable) into rate limits. */
export function rateLimitEntry(value: string, previous: RateLimit[] = []): RateLimit[] {
  const limit = parseRateLimit(value);
  if (!limit) throw new InvalidArgumentError('expected LIMIT/WINDOW, e.g. 100/1s or 10000/1d (units s, m, h, d)');
  return [...previous, limit];
}

/** A rate limit as people write it: `100/1s`, `10000/1d`. */
export function formatRateLimit({ limit, windowMs }: RateLimit): string {
  for (const [unit, ms] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (windowMs % ms === 0) return `${limit}/${windowMs / ms}${unit}`;
  return windowMs % 1000 === 0 ? `${limit}/${windowMs / 1000}s` : `${limit}/${windowMs}ms`;
}

/** `--credits N` and `--topup`'s amount: a whole number of credits. */
export function creditAmount(value: string): number {
  const amount = /^\d{1,10}$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(amount >= 0 && amount <= MAX_CREDITS)) throw new InvalidArgumentError(`expected a whole number of credits, at most ${MAX_CREDITS}`);
  return amount;
}

/** `--cost N`: 0 to MAX_VERIFY_COST. */
export function verifyCost(value: string): number {
  const cost = verifyCostSchema.safeParse(/^\d{1,4}$/.test(value.trim()) ? Number(value) : Number.NaN);
  if (!cost.success) throw new InvalidArgumentError(`expected a cost from 0 to ${MAX_VERIFY_COST}`);
  return cost.data;
}

/** `--refill 1000/daily`, `--refill 5000/monthly@15`. */
export function refillOption(value: string): CreditRefill {
  const refill = parseRefill(value);
  if (!refill) throw new InvalidArgumentError('expected AMOUNT/daily or AMOUNT/monthly[@DAY] (DAY 1-28), e.g. 1000/daily or 5000/monthly@15');
  return refill;
}

/** The quota `--credits` and `--refill` set: without `--credits`, the balance starts at the refill amount. */
export function creditsSetting(credits: number | undefined, refill: CreditRefill | undefined): CreditsSetting | undefined {
  if (credits === undefined && refill === undefined) return undefined;
  return { remaining: credits ?? refill!.amount, ...(refill ? { refill } : {}) };
}

/**
 * A key given as an argument, or read from standard input when the argument is `-`: a key on the
 * command line stays in shell history and is visible to other users in the process list.
 */
export function plaintextArgument(key: string): string {
  const text = key === '-' ? readFileSync(0, 'utf8').trim() : key;
  // Longer than any key can be, it cannot verify: send just enough to be judged MALFORMED, not
  // megabytes NATS would refuse as a whole (max_payload) without an answer.
  return text.length > MAX_KEY_LENGTH ? text.slice(0, MAX_KEY_LENGTH + 1) : text;
}
