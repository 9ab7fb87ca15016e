import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import type { GlobalPosition } from '@keyledger/contracts';
import type { PostgresEventStore } from '@keyledger/event-store';
import { START_OF_LOG } from '@keyledger/event-store';
import { applyOnce } from './inbox.js';
import type { Projection } from './projection.js';

export interface RebuildResult {
  readonly eventsApplied: number;
  readonly position: GlobalPosition;
}

/**
 * Rebuilds a projection from position 0 straight from the event store, without the bus.
 * Run it with the projection's consumer stopped. The inbox is refilled as it goes, so when
 * the consumer starts again it skips what the rebuild applied and takes over from there.
 */
export async function rebuildProjection(dataSource: DataSource, store: PostgresEventStore, projection: Projection, batchSize = 1000): Promise<RebuildResult> {
  await dataSource.transaction(async (manager) => {
    await projection.reset(manager);
    await manager.query(`delete from consumer_inbox where consumer = $1`, [projection.name]);
    await manager.query(`delete from consumer_checkpoints where consumer = $1`, [projection.name]);
  });
  // Every transaction that began before this point must be visible before we stop, or an
  // event it commits late could be missed by both the rebuild and (already acked) the bus.
  const [horizon] = await dataSource.query<{ xmax: string }[]>(`select pg_snapshot_xmax(pg_current_snapshot())::text as xmax`);
  let position = START_OF_LOG;
  let eventsApplied = 0;
  let horizonVisible = false;
  for (;;) {
    // Refused rows (reported by the store) are passed over, never applied.
    const { events, end } = await store.readAll(position, batchSize, projection.category);
    if (end) {
      await dataSource.transaction(async (manager) => {
        for (const event of events) if (await applyOnce(manager, projection, event)) eventsApplied += 1;
      });
      position = end;
      continue;
    }
    // One more read after the horizon became visible picks up what committed meanwhile.
    if (horizonVisible) return { eventsApplied, position };
    horizonVisible = await isVisible(dataSource, horizon?.xmax ?? '0');
    if (!horizonVisible) await sleep(20);
  }
}

async function isVisible(dataSource: DataSource, transactionId: string): Promise<boolean> {
  const [row] = await dataSource.query<{ visible: boolean }[]>(`select pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 as visible`, [transactionId]);
  return row?.visible ?? false;
}
