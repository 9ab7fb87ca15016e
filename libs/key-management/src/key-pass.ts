import { ApiError } from '@keyledger/contracts';

/** Error codes that mean someone else changed the key first (another replica, an admin): the change is moot, not failed. */
const LOST_RACE_CODES = new Set(['INVALID_TRANSITION', 'CONCURRENCY_CONFLICT', 'KEY_ALREADY_EXISTS']);

export function isLostRace(error: unknown): boolean {
  return error instanceof ApiError && LOST_RACE_CODES.has(error.code);
}

/** Key ids of one periodic pass over keys, by outcome. */
export interface KeyPassOutcomes {
  readonly done: string[];
  /** Changed by someone else first. */
  readonly lost: string[];
  readonly failed: string[];
}

export function newKeyPass(): KeyPassOutcomes {
  return { done: [], lost: [], failed: [] };
}

/**
 * Makes one change to a key and files the key under its outcome: done, lost (`isLostRace`), or
 * failed, which goes to `onFailure` (the pass goes on; the key is tried again at the next one).
 */
export async function changeKeyInPass(pass: KeyPassOutcomes, keyId: string, change: () => Promise<void>, onFailure: (error: unknown) => void): Promise<void> {
  try {
    await change();
    pass.done.push(keyId);
  } catch (error) {
    if (isLostRace(error)) {
      pass.lost.push(keyId);
    } else {
      pass.failed.push(keyId);
      onFailure(error);
    }
  }
}
