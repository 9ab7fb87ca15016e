import type { OpenedKey } from '@keyledger/key-delivery';

/** The key a service holds now, and the delivery stream position it has processed. */
export interface LiveKeyState {
  readonly keyId: string | undefined;
  readonly key: string;
  /** Stream sequence of the last delivery processed; 0 before the first. */
  readonly sequence: number;
}

/**
 * What a delivered key did to the state: the service switched to it, it was older than (or the
 * same as) the key held, or it replaces another key of the same owner, held by someone else.
 */
export type DeliveryOutcome = 'SWITCHED' | 'STALE' | 'OTHER_KEY';

/**
 * Applies one opened delivery. A rotation's envelope names the key it replaces: the service
 * switches only when that is the key it holds, so several services (or keys) of one owner each
 * follow their own line of rotations; a repeat of the key it holds is STALE, and any other
 * rotation (another key's, or an older link of its own line, already acknowledged) is OTHER_KEY. An envelope that names none (version 1) is switched to when
 * its id is newer than the one held: key ids are time-ordered (`key_` and a UUIDv7 in base32),
 * so a replayed or out-of-date envelope (the stream keeps them for a while) never takes a
 * service back to an older key. A key held without a known id accepts the first delivery.
 */
export function applyDelivery(state: LiveKeyState, opened: OpenedKey, sequence: number): { state: LiveKeyState; outcome: DeliveryOutcome } {
  const read = Math.max(state.sequence, sequence);
  const held = state.keyId;
  if (held !== undefined && opened.replaces !== undefined && opened.keyId !== held && opened.replaces !== held)
    return { state: { ...state, sequence: read }, outcome: 'OTHER_KEY' };
  const newer = held === undefined || opened.keyId > held;
  if (!newer) return { state: { ...state, sequence: read }, outcome: 'STALE' };
  return { state: { keyId: opened.keyId, key: opened.key, sequence: read }, outcome: 'SWITCHED' };
}
