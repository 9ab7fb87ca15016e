import type { EventEnvelope, KeyEvent } from '@keyledger/contracts';
import { streamIdOf } from '@keyledger/contracts';
import type { KeyRecord } from '@keyledger/key-domain';
import { evolveKey } from '@keyledger/key-domain';
import type { PostgresEventStore } from '@keyledger/event-store';

/** A key read from its stream, with the events it was folded from (their count is its version). */
export interface LoadedKey {
  readonly record: KeyRecord | undefined;
  readonly events: readonly EventEnvelope[];
}

/** Reads a key's stream and folds it. */
export async function loadKey(store: Pick<PostgresEventStore, 'readStream'>, keyId: string): Promise<LoadedKey> {
  const events = await store.readStream(streamIdOf('key', keyId));
  let record: KeyRecord | undefined;
  for (const event of events) record = evolveKey(record, { type: event.type, data: event.data } as KeyEvent);
  return { record, events };
}
