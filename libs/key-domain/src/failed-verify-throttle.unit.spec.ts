import { VERIFY_CODES } from '@keyledger/contracts';
import { FailedVerifyThrottle, countFailure, isFailedVerification, throttleSource, throttledUntil } from './failed-verify-throttle.js';

const SETTINGS = { limit: 3, windowMs: 1000, maxSources: 4 };

describe('failed verification throttling', () => {
  it('counts only strings that name no key, and calls from a denied network, as failures', () => {
    expect(VERIFY_CODES.filter(isFailedVerification)).toEqual(['MALFORMED', 'NOT_FOUND', 'DENIED']);
  });

  it('refuses a source from its limit-th failure to the end of its window, then lets it go', () => {
    let window = countFailure(undefined, 100, SETTINGS);
    window = countFailure(window, 200, SETTINGS);
    expect(throttledUntil(window, 200, SETTINGS)).toBeUndefined();
    window = countFailure(window, 300, SETTINGS);
    expect(throttledUntil(window, 300, SETTINGS)).toBe(1100);
    expect(throttledUntil(window, 1099, SETTINGS)).toBe(1100);
    expect(throttledUntil(window, 1100, SETTINGS)).toBeUndefined();
    // A failure after the window opens a new one, counted from 1.
    expect(countFailure(window, 1100, SETTINGS)).toEqual({ start: 1100, failures: 1 });
  });

  it('opens a new window when the clock went back', () => {
    expect(countFailure({ start: 5000, failures: 3 }, 4000, SETTINGS)).toEqual({ start: 4000, failures: 1 });
  });

  it('refuses every verification of a throttled source, and no other source', () => {
    const throttle = new FailedVerifyThrottle(SETTINGS);
    for (let i = 0; i < 3; i += 1) throttle.record('198.51.100.1', 'NOT_FOUND', 10 + i);
    expect(throttle.check('198.51.100.1', 20)).toBe(1010);
    expect(throttle.check('198.51.100.2', 20)).toBeUndefined();
    expect(throttle.check('198.51.100.1', 1010)).toBeUndefined();
  });

  it('does not count a real key refused for its own reasons', () => {
    const throttle = new FailedVerifyThrottle(SETTINGS);
    for (const code of [
      'VALID',
      'REVOKED',
      'EXPIRED',
      'DISABLED',
      'FORBIDDEN',
      'INSUFFICIENT_PERMISSIONS',
      'RATE_LIMITED',
      'USAGE_EXCEEDED',
      'UNAVAILABLE',
    ] as const)
      for (let i = 0; i < 5; i += 1) throttle.record('198.51.100.1', code, 10);
    expect(throttle.size).toBe(0);
    expect(throttle.check('198.51.100.1', 10)).toBeUndefined();
  });

  it('remembers at most maxSources, forgetting the oldest window first', () => {
    const throttle = new FailedVerifyThrottle(SETTINGS);
    for (let i = 0; i < 3; i += 1) throttle.record('attacker', 'MALFORMED', 1);
    for (let source = 0; source < 100_000; source += 1) throttle.record(`flood-${source}`, 'NOT_FOUND', 2);
    expect(throttle.size).toBe(4);
    // The flood made the throttle forget the attacker: it never makes it refuse anyone else.
    expect(throttle.check('attacker', 3)).toBeUndefined();
    expect(throttle.check('flood-99999', 3)).toBeUndefined();
  });

  it('keeps a source whose window is recent when older ones are forgotten', () => {
    const throttle = new FailedVerifyThrottle(SETTINGS);
    for (const source of ['a', 'b', 'c', 'd']) throttle.record(source, 'NOT_FOUND', 1);
    for (let i = 0; i < 3; i += 1) throttle.record('d', 'NOT_FOUND', 2);
    throttle.record('e', 'NOT_FOUND', 3);
    expect(throttle.size).toBe(4);
    expect(throttle.check('d', 3)).toBe(1001);
  });

  it('throttles no one with a limit of 0', () => {
    const throttle = new FailedVerifyThrottle({ ...SETTINGS, limit: 0 });
    for (let i = 0; i < 10; i += 1) throttle.record('x', 'NOT_FOUND', 1);
    expect(throttle.check('x', 1)).toBeUndefined();
    expect(throttle.size).toBe(0);
  });

  it('counts an IPv6 caller by its /64, an IPv4 caller by its address', () => {
    expect(throttleSource('198.51.100.7')).toBe('198.51.100.7');
    expect(throttleSource('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(throttleSource('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(throttleSource('2001:DB8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(throttleSource('not an address')).toBe('not an address');
    const throttle = new FailedVerifyThrottle(SETTINGS);
    // Three guesses from three addresses of one /64: one source, throttled.
    for (const address of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:dead:beef::3']) throttle.record(address, 'NOT_FOUND', 1);
    expect(throttle.check('2001:db8:1:2:ffff::9', 2)).toBe(1001);
    expect(throttle.check('2001:db8:1:3::1', 2)).toBeUndefined();
    expect(throttle.size).toBe(1);
  });
});
