import type ipaddr from 'ipaddr.js';
import type { VerifyCode } from '@keyledger/contracts';
import { parseIp } from './ip-allowlist.js';

/** How many failed verifications a source may make, and how many sources are remembered. */
export interface FailedVerifySettings {
  /** Failed verifications per window a source may make; the next answer is RATE_LIMITED until the window ends. 0: no throttling. */
  readonly limit: number;
  /** Length of a source's window, from its first failure. */
  readonly windowMs: number;
  /** Sources remembered at most; beyond it the one whose window began first is forgotten. */
  readonly maxSources: number;
}

export const DEFAULT_FAILED_VERIFY_SETTINGS: FailedVerifySettings = { limit: 100, windowMs: 60_000, maxSources: 100_000 };

/** One source's failures in its current window. */
export interface FailureWindow {
  /** When the window began (ms): at the first failure after the previous one ended. */
  start: number;
  failures: number;
}

/**
 * A failed verification: the presented string names no key (NOT_FOUND, which also covers a key
 * of another tenant) or is not a key at all (MALFORMED), or the caller's network is denied
 * (DENIED, which an unknown string from it gets too: a denial must not make guessing free).
 * Answers about a real key (REVOKED, FORBIDDEN, RATE_LIMITED…) are not failures of this kind:
 * they reveal nothing a guesser is after.
 */
export function isFailedVerification(code: VerifyCode): boolean {
  return code === 'NOT_FOUND' || code === 'MALFORMED' || code === 'DENIED';
}

/**
 * Until when (ms) a source with this window is refused at `now`, or undefined when it is not:
 * refused from its `limit`th failure to the end of the window in which it made them.
 */
export function throttledUntil(window: FailureWindow | undefined, now: number, settings: FailedVerifySettings): number | undefined {
  if (window === undefined || settings.limit === 0) return undefined;
  const end = window.start + settings.windowMs;
  return window.failures >= settings.limit && now < end ? end : undefined;
}

/**
 * The window after one more failure at `now`: the same one, counted, while it lasts (changed in
 * place, so a failure in a running window allocates nothing); a new one once it has ended.
 */
export function countFailure(window: FailureWindow | undefined, now: number, settings: FailedVerifySettings): FailureWindow {
  if (window === undefined || now >= window.start + settings.windowMs || now < window.start) return { start: now, failures: 1 };
  window.failures += 1;
  return window;
}

/** IPv6 sources whose /64 is remembered at most; beyond it the memo starts afresh. */
const PREFIX_MEMO = 10_000;

/**
 * The source a caller is counted as: an IPv4 address itself, an IPv6 address its /64 (what one
 * subscriber or host usually holds, so a caller cannot spread its guesses over the 2^64
 * addresses it owns), anything else as given. `::ffff:10.0.0.1` is `10.0.0.1`.
 */
export function throttleSource(address: string): string {
  // IPv4 text, or no address at all: as it is, nothing parsed or allocated.
  if (!address.includes(':')) return address;
  const parsed = parseIp(address);
  if (parsed === undefined) return address;
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts;
  return `${parts[0]!.toString(16)}:${parts[1]!.toString(16)}:${parts[2]!.toString(16)}:${parts[3]!.toString(16)}::/64`;
}

/**
 * Failed verifications per source, in memory and bounded: a source (a caller's address, an
 * IPv6 caller's /64, `throttleSource`) that
 * presents `limit` strings naming no key within `windowMs` is answered RATE_LIMITED, whatever
 * it presents, until that window ends, so keys cannot be guessed at the verifier's speed and a
 * guesser is not told when it hits one. Other sources are unaffected. At most `maxSources` are
 * remembered: a new window moves its source to the back of the Map, and the front (the oldest
 * window, most likely over) is forgotten first, so a flood from many addresses costs a bounded
 * amount of memory and can only make the throttle forget, never refuse, a source.
 *
 * `check` is on every verification's path and allocates nothing; only a failure that opens a
 * window allocates.
 */
export class FailedVerifyThrottle {
  private readonly windows = new Map<string, FailureWindow>();
  /** `throttleSource` of the IPv6 callers seen lately: parsing one costs microseconds, a lookup nanoseconds. */
  private readonly prefixes = new Map<string, string>();

  constructor(private readonly settings: FailedVerifySettings = DEFAULT_FAILED_VERIFY_SETTINGS) {}

  /** Until when (ms) the caller at `address` is refused at `now`, or undefined. */
  check(address: string, now: number): number | undefined {
    if (this.settings.limit === 0 || this.windows.size === 0) return undefined;
    return throttledUntil(this.windows.get(this.sourceOf(address)), now, this.settings);
  }

  /** Counts the outcome of a verification the caller at `address` made at `now`; only failures count. */
  record(address: string, code: VerifyCode, now: number): void {
    if (this.settings.limit === 0 || !isFailedVerification(code)) return;
    const source = this.sourceOf(address);
    const current = this.windows.get(source);
    const next = countFailure(current, now, this.settings);
    if (next === current) return;
    // A new window goes to the back: the Map's order is then the order windows began in.
    if (current !== undefined) this.windows.delete(source);
    this.windows.set(source, next);
    if (this.windows.size > this.settings.maxSources) this.windows.delete(this.windows.keys().next().value!);
  }

  private sourceOf(address: string): string {
    if (!address.includes(':')) return address;
    let source = this.prefixes.get(address);
    if (source === undefined) {
      if (this.prefixes.size >= PREFIX_MEMO) this.prefixes.clear();
      this.prefixes.set(address, (source = throttleSource(address)));
    }
    return source;
  }

  /** Sources remembered now. */
  get size(): number {
    return this.windows.size;
  }
}
