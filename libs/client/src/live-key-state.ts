import type { OpenedKey } from '@keyledger/key-delivery';

/** The key a service holds now, and the delivery stream position it has processed. */
export interface LiveKeyState {
  readonly keyId: string | undefined;
  readonly key: string;
  /** Stream sequence of the last delivery processed; 0 before the first. */
  readonly sequence: number;
}

/** What a delivered key did to the state: the service switched to it, or it was older than the key held. */
export type DeliveryOutcome = 'SWITCHED' | 'STALE';

/**
 * Applies one opened delivery. Key ids are time-ordered (`key_` and a UUIDv7 in base32), so a
 * key is switched to only when its id is newer than the one held: a replayed or out-of-date
 * envelope (the stream keeps them for a while) never takes a service back to an older key.
 * A key held without a known id accepts the first delivery.
 */
export function applyDelivery(state: LiveKeyState, opened: OpenedKey, sequence: number): { state: LiveKeyState; outcome: DeliveryOutcome } {
  const newer = state.keyId === undefined || opened.keyId > state.keyId;
  if (!newer) return { state: { ...state, sequence: Math.max(state.sequence, sequence) }, outcome: 'STALE' };
  return { state: { keyId: opened.keyId, key: opened.key, sequence: Math.max(state.sequence, sequence) }, outcome: 'SWITCHED' };
}
