import type { DataSource } from 'typeorm';
import type { GlobalPosition } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';

/** Where a relay has published up to, stored only after JetStream acknowledged it (for monitoring and lag). */
export class RelayCheckpointStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly relayName: string,
  ) {}

  async load(): Promise<GlobalPosition> {
    const [row] = await this.dataSource.query<
      {
        transaction_id: string;
        position: string;
      }[]
    >(`select transaction_id::text, position::text from relay_checkpoints where relay = $1`, [this.relayName]);
    return row ? { transactionId: row.transaction_id, position: row.position } : START_OF_LOG;
  }

  /** Moves the checkpoint forward; a stale writer can never move it back. */
  async save(position: GlobalPosition & { eventId: string }): Promise<void> {
    await this.dataSource.query(
      `insert into relay_checkpoints (relay, transaction_id, position, event_id, updated_at)
       values ($1, $2::xid8, $3, $4, now())
       on conflict (relay) do update
         set transaction_id = excluded.transaction_id, position = excluded.position, event_id = excluded.event_id, updated_at = now()
       where (relay_checkpoints.transaction_id, relay_checkpoints.position) < (excluded.transaction_id, excluded.position)`,
      [this.relayName, position.transactionId, position.position, position.eventId],
    );
  }
}
