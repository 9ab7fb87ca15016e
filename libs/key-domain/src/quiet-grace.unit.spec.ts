import type { KeyEvent } from '@keyledger/contracts';
import { DomainError } from './domain-error.js';
import type { EndQuietGrace, RotateKey } from './key-decider.js';
import { decideKey } from './key-decider.js';
import type { KeyRecord } from './key-record.js';
import { evolveKey } from './key-record.js';
import { statusAt } from './key-status.js';
import { quietGraceDecision } from './quiet-grace.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const LAG = 5000;
const keyId = 'key_01jdaaaaaaaaaaaaaaaaaaaaaa';
const rotatedAt = Date.parse('2026-01-01T00:00:00Z');
const issued: KeyEvent = {
  type: 'KeyIssued',
  data: {
    keyId,
    tenant: 'acme',
    owner: 'billing',
    environment: 'live',
    prefix: 'kl',
    digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
    hint: 'kl_live_…abcd',
    scopes: [],
    ipAllowlist: [],
    metadata: {},
  },
};
const rotate: RotateKey = {
  type: 'RotateKey',
  keyId,
  replacedBy: 'key_01jdbbbbbbbbbbbbbbbbbbbbbb',
  graceMs: 24 * HOUR,
  emergency: false,
  quietPeriodMs: 15 * MINUTE,
};

/** The old key after a rotation at `rotatedAt` with the given command. */
function rotated(command: RotateKey = rotate): KeyRecord {
  let record = evolveKey(undefined, issued);
  for (const event of decideKey(command, record, new Date(rotatedAt))) record = evolveKey(record, event);
  return record!;
}

/** `ingestedUntil` as a caught-up auditor reports it: now. */
const fresh = (now: number, lastUsedAt?: number) => ({ lastUsedAt, ingestedUntil: now });

describe('quiet grace', () => {
  const record = rotated();

  it('records the quiet period and the rotation time with the rotation', () => {
    expect(record.rotation).toMatchObject({ rotatedAt, quietPeriodMs: 15 * MINUTE, graceEndsAt: rotatedAt + 24 * HOUR });
  });

  it('ends the grace of a key never used once the quiet period after the rotation has passed and usage is known that far', () => {
    const closesAt = rotatedAt + 15 * MINUTE + LAG;
    expect(quietGraceDecision(record, fresh(closesAt - 1), closesAt - 1, LAG)).toMatchObject({ close: false, reason: 'usage-lagging' });
    expect(quietGraceDecision(record, fresh(closesAt), closesAt, LAG)).toEqual({
      close: true,
      endedAt: closesAt,
      quietPeriodMs: 15 * MINUTE,
      quietSince: rotatedAt,
    });
    expect(quietGraceDecision(record, fresh(rotatedAt + MINUTE), rotatedAt + MINUTE, LAG)).toEqual({
      close: false,
      reason: 'in-use',
      notBefore: rotatedAt + 15 * MINUTE,
    });
  });

  it('counts the quiet period from the last use after the rotation, and ignores uses before it', () => {
    const usedAt = rotatedAt + 2 * HOUR;
    expect(quietGraceDecision(record, fresh(usedAt + 10 * MINUTE, usedAt), usedAt + 10 * MINUTE, LAG)).toMatchObject({
      close: false,
      reason: 'in-use',
      notBefore: usedAt + 15 * MINUTE,
    });
    expect(quietGraceDecision(record, fresh(usedAt + 15 * MINUTE + LAG, usedAt), usedAt + 15 * MINUTE + LAG, LAG)).toMatchObject({
      close: true,
      quietSince: usedAt,
    });
    // A use before the rotation does not delay the end: the quiet period starts at the rotation.
    const early = rotatedAt - HOUR;
    expect(quietGraceDecision(record, fresh(rotatedAt + 15 * MINUTE + LAG, early), rotatedAt + 15 * MINUTE + LAG, LAG)).toMatchObject({
      close: true,
      quietSince: rotatedAt,
    });
  });

  it('does not end the grace while usage is not known to cover the whole quiet period', () => {
    const now = rotatedAt + HOUR;
    // The auditor is behind: its data stops 10 s before the quiet period would have elapsed.
    expect(quietGraceDecision(record, { lastUsedAt: undefined, ingestedUntil: rotatedAt + 15 * MINUTE - 10_000 }, now, LAG)).toMatchObject({
      close: false,
      reason: 'usage-lagging',
    });
    // Its data covers the quiet period, but is older than the lag: a use since could be missing.
    expect(quietGraceDecision(record, { lastUsedAt: undefined, ingestedUntil: now - LAG - 1 }, now, LAG)).toMatchObject({ reason: 'usage-lagging' });
    expect(quietGraceDecision(record, { lastUsedAt: undefined, ingestedUntil: now - LAG }, now, LAG)).toMatchObject({ close: true, endedAt: now });
    expect(quietGraceDecision(record, { lastUsedAt: undefined, ingestedUntil: undefined }, now, LAG)).toEqual({ close: false, reason: 'usage-unknown' });
  });

  it('treats a use stamped after now (a verifier clock ahead) as use now', () => {
    const now = rotatedAt + HOUR;
    expect(quietGraceDecision(record, fresh(now, now + 1000), now, LAG)).toMatchObject({ close: false, reason: 'in-use' });
  });

  it('never ends a grace that is over, was ended, has no quiet period, or belongs to a revoked or emergency-rotated key', () => {
    const graceEnd = rotatedAt + 24 * HOUR;
    expect(quietGraceDecision(record, fresh(graceEnd - 1), graceEnd - 1, LAG)).toMatchObject({ close: true });
    expect(quietGraceDecision(record, fresh(graceEnd), graceEnd, LAG)).toEqual({ close: false, reason: 'grace-over' });
    const noQuiet = rotated({ ...rotate, quietPeriodMs: undefined });
    expect(noQuiet.rotation?.quietPeriodMs).toBeUndefined();
    expect(quietGraceDecision(noQuiet, fresh(graceEnd - 1), graceEnd - 1, LAG)).toEqual({ close: false, reason: 'not-eligible' });
    const emergency = rotated({ ...rotate, graceMs: 0, emergency: true });
    expect(emergency.rotation?.quietPeriodMs).toBeUndefined();
    expect(quietGraceDecision(emergency, fresh(graceEnd - 1), graceEnd - 1, LAG)).toEqual({ close: false, reason: 'not-eligible' });
    const revoked = evolveKey(record, { type: 'KeyRevoked', data: { keyId, reason: 'r' } })!;
    expect(quietGraceDecision(revoked, fresh(graceEnd - 1), graceEnd - 1, LAG)).toEqual({ close: false, reason: 'not-eligible' });
    const notRotated = evolveKey(undefined, issued)!;
    expect(quietGraceDecision(notRotated, fresh(graceEnd - 1), graceEnd - 1, LAG)).toEqual({ close: false, reason: 'not-eligible' });
  });

  describe('EndQuietGrace', () => {
    const now = rotatedAt + HOUR;
    const end: EndQuietGrace = { type: 'EndQuietGrace', keyId, lastUsedAt: rotatedAt + MINUTE, ingestedUntil: now - 1000, usageLagMs: LAG };

    it('records KeyGraceEnded with its evidence; the old key reads as expired from then on, whatever later updates say', () => {
      const events = decideKey(end, record, new Date(now));
      expect(events).toEqual([
        {
          type: 'KeyGraceEnded',
          data: {
            keyId,
            endedAt: new Date(now).toISOString(),
            reason: 'quiet',
            quietPeriodMs: 15 * MINUTE,
            lastUsedAt: new Date(rotatedAt + MINUTE).toISOString(),
            usageIngestedUntil: new Date(now - 1000).toISOString(),
          },
        },
      ]);
      const ended = events.reduce<KeyRecord | undefined>(evolveKey, record)!;
      expect(ended.expiresAt).toBe(now);
      expect(ended.rotation).toMatchObject({ graceEndsAt: rotatedAt + 24 * HOUR, graceEnded: { at: now, reason: 'quiet', lastUsedAt: rotatedAt + MINUTE } });
      expect(statusAt(ended.status, ended.expiresAt, now - 1)).toBe('active');
      expect(statusAt(ended.status, ended.expiresAt, now)).toBe('expired');
      const updated = evolveKey(ended, { type: 'KeyUpdated', data: { keyId, expiresAt: null } })!;
      expect(updated.expiresAt).toBe(now);
      const code = (fn: () => unknown): string | undefined => {
        try {
          fn();
          return undefined;
        } catch (error) {
          return error instanceof DomainError ? error.code : 'other';
        }
      };
      // Once: a second replica deciding on the new record is refused.
      expect(code(() => decideKey(end, ended, new Date(now + 1)))).toBe('INVALID_TRANSITION');
    });

    it('is refused when the rule says no, for a key never rotated, and with a bad lag', () => {
      const code = (fn: () => unknown): string | undefined => {
        try {
          fn();
          return undefined;
        } catch (error) {
          return error instanceof DomainError ? error.code : 'other';
        }
      };
      expect(code(() => decideKey({ ...end, lastUsedAt: now - MINUTE }, record, new Date(now)))).toBe('INVALID_TRANSITION');
      expect(code(() => decideKey({ ...end, ingestedUntil: undefined }, record, new Date(now)))).toBe('INVALID_TRANSITION');
      expect(code(() => decideKey(end, evolveKey(undefined, issued), new Date(now)))).toBe('INVALID_TRANSITION');
      expect(code(() => decideKey(end, undefined, new Date(now)))).toBe('KEY_NOT_FOUND');
      expect(code(() => decideKey({ ...end, usageLagMs: -1 }, record, new Date(now)))).toBe('INVALID_ARGUMENT');
    });

    it('refuses a rotation with a quiet period out of bounds', () => {
      const base = evolveKey(undefined, issued);
      expect(() => decideKey({ ...rotate, quietPeriodMs: 999 }, base, new Date(rotatedAt))).toThrow(DomainError);
      expect(() => decideKey({ ...rotate, quietPeriodMs: 91 * 24 * HOUR }, base, new Date(rotatedAt))).toThrow(DomainError);
      expect(() => decideKey({ ...rotate, quietPeriodMs: 1.5 * MINUTE + 0.5 }, base, new Date(rotatedAt))).toThrow(DomainError);
    });
  });
});
