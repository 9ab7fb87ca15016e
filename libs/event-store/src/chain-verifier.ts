import type { DataSource } from 'typeorm';
import type { EventAuthenticator } from '@keyledger/event-auth';
import type { ChainReport } from './chain-check.js';
import { ChainCheck } from './chain-check.js';
import type { EventRow } from './event-row.js';
import { SELECT_EVENT } from './event-row.js';

/**
 * Recomputes every stream's hash chain from the stored rows and checks each row's MAC, and
 * reports each row that does not match, with its global position: one break per row, the
 * chain's (`missing-previous-event`, `hash-mismatch`) before the MAC's (`ChainCheck`). One pass
 * in position order, in keyset pages, so breaks come in the order the rows were appended. Run it
 * with a role that may read the events table.
 */
export async function verifyEventChains(
  dataSource: DataSource,
  authenticator: EventAuthenticator,
  options: { streamId?: string; pageSize?: number } = {},
): Promise<ChainReport> {
  const pageSize = options.pageSize ?? 2000;
  const chains = new ChainCheck(dataSource, authenticator);
  let after = '0';
  for (;;) {
    const rows = await dataSource.query<EventRow[]>(
      `select ${SELECT_EVENT} from events
        where events.position > $1::bigint and ($2::text is null or stream_id = $2)
        order by events.position
        limit $3`,
      [after, options.streamId ?? null, pageSize],
    );
    await chains.check(rows);
    const last = rows[rows.length - 1];
    if (!last || rows.length < pageSize) break;
    after = last.position;
  }
  return chains.report();
}
