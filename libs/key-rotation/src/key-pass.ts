import { ConcurrencyConflictError } from '@keyledger/event-store';
import { DomainError } from '@keyledger/key-domain';

/** Refusals that mean someone else changed the key first (another replica, an admin): the change is moot, not failed. */
const LOST_RACE_CODES: ReadonlySet<DomainError['code']> = new Set(['INVALID_TRANSITION', 'KEY_ALREADY_EXISTS']);

/** Whether a change of a key failed because someone else changed it first (still racing after the retries, or refused by what they did). */
export function isLostRace(error: unknown): boolean {
  return error instanceof ConcurrencyConflictError || (error instanceof DomainError && LOST_RACE_CODES.has(error.code));
}

/** What became of one key in a pass. */
export type KeyPassOutcome = 'done' | 'lost' | 'failed';

/** Key ids of one periodic pass over keys, by outcome. */
export interface KeyPassOutcomes {
  readonly done: string[];
  /** Changed by someone else first. */
  readonly lost: string[];
  readonly failed: string[];
}

interface KeyPass extends KeyPassOutcomes {
  readonly counted: (outcome: KeyPassOutcome) => void;
}

/**
 * A new pass; `counted` hears each key's outcome as it is known, so counters move while a long
 * pass runs, and keep what a pass that stops half-way has done.
 */
export function newKeyPass(counted: (outcome: KeyPassOutcome) => void = () => undefined): KeyPass {
  return { done: [], lost: [], failed: [], counted };
}

/**
 * Makes one change to a key and files the key under its outcome: done, lost (`isLostRace`), or
 * failed, which goes to `onFailure` (the pass goes on; the key is tried again at the next one).
 */
export async function changeKeyInPass(pass: KeyPass, keyId: string, change: () => Promise<void>, onFailure: (error: unknown) => void): Promise<void> {
  let outcome: KeyPassOutcome = 'done';
  try {
    await change();
  } catch (error) {
    outcome = isLostRace(error) ? 'lost' : 'failed';
    if (outcome === 'failed') onFailure(error);
  }
  pass[outcome].push(keyId);
  pass.counted(outcome);
}
