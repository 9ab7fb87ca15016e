import type { EventEnvelope } from '@keyledger/contracts';
import type { Projection, ProjectionTransaction } from './projection.js';

/**
 * Applies an event once per consumer: the inbox row, the projection change and the
 * checkpoint commit together, so a redelivered or replayed event is recognised and skipped.
 * Returns false when the event had already been applied.
 */
export async function applyOnce(tx: ProjectionTransaction, projection: Projection, event: EventEnvelope): Promise<boolean> {
  const inserted = await tx.query<unknown[]>(
    `insert into consumer_inbox (consumer, event_id, transaction_id, position)
     values ($1, $2, $3::xid8, $4) on conflict do nothing returning event_id`,
    [projection.name, event.eventId, event.transactionId, event.position],
  );
  if (inserted.length === 0) return false;
  await projection.apply(event, tx);
  await tx.query(
    `insert into consumer_checkpoints (consumer, transaction_id, position, updated_at)
     values ($1, $2::xid8, $3, now())
     on conflict (consumer) do update
       set transaction_id = excluded.transaction_id, position = excluded.position, updated_at = now()
     where (consumer_checkpoints.transaction_id, consumer_checkpoints.position) < (excluded.transaction_id, excluded.position)`,
    [projection.name, event.transactionId, event.position],
  );
  return true;
}
