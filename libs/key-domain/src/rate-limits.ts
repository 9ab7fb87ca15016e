import type { RateLimit } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';

export const MAX_RATE_LIMITS = 5;

/** Checks a key's rate limits: at most five, one per window length; sorted by window. */
export function normaliseRateLimits(limits: readonly RateLimit[]): RateLimit[] {
  if (limits.length > MAX_RATE_LIMITS) throw new DomainError('INVALID_ARGUMENT', `at most ${MAX_RATE_LIMITS} rate limits`);
  const windows = new Set(limits.map((limit) => limit.windowMs));
  if (windows.size !== limits.length) throw new DomainError('INVALID_ARGUMENT', 'at most one rate limit per window length');
  return [...limits].sort((a, b) => a.windowMs - b.windowMs).map(({ limit, windowMs }) => ({ limit, windowMs }));
}

/** Start of the fixed window of length `windowMs` holding `now`: windows align to the epoch, so every replica agrees. */
export function windowStart(now: number, windowMs: number): number {
  return now - (now % windowMs);
}

/**
 * This replica's share of what remains of a window, when `members` replicas share it and
 * this one is `rank` (0-based) in their agreed order. The shares add up to `remaining`
 * exactly: the remainder goes one each to the lowest ranks, so a small remainder is not
 * lost to rounding.
 */
export function shareOfRemaining(remaining: number, members: number, rank: number): number {
  if (remaining <= 0 || members <= 0) return 0;
  const base = Math.floor(remaining / members);
  return base + (rank < remaining % members ? 1 : 0);
}

/** Parses `LIMIT/WINDOW` such as `100/1s` or `10000/1d` (units s, m, h, d). */
export function parseRateLimit(text: string): RateLimit | undefined {
  const match = /^(\d{1,10})\/(\d{1,6})(s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[3] as 's' | 'm' | 'h' | 'd'];
  return { limit: Number(match[1]), windowMs: Number(match[2]) * unit };
}
