import type { EventAuthenticator } from '@keyledger/event-auth';
import type { ChainReport, EventRow } from '@keyledger/event-store';
import { ChainCheck, SELECT_EVENT } from '@keyledger/event-store';
import type { EntityManager } from 'typeorm';
import { eventLeafHashOfRow } from './event-leaf.js';
import type { LogProblem } from './log-report.js';
import { CompactRange } from './merkle-tree.js';

/** Anything that can run SQL: a DataSource or a transaction's manager. */
type Queryable = Pick<EntityManager, 'query'>;

/** Leaves [start, end) of the tree. */
export interface LeafRange {
  readonly start: number;
  readonly end: number;
}

/** What one range of leaves holds, recomputed from the store. */
export interface LeafRangeReport {
  /** Leaf rows found in the range. */
  readonly leavesChecked: number;
  readonly problems: readonly LogProblem[];
  /** The root (MTH) of the range's leaves, each recomputed from its event's row (zeros where there is none). */
  readonly root: Buffer;
  /** For each size asked that ends inside the range: the root of the range's leaves up to that size. */
  readonly rootsAt: ReadonlyMap<number, Buffer>;
  /** The chains and MACs of the range's events (`ChainCheck`: independent of every other range). */
  readonly chains: ChainReport;
}

interface LeafRow extends Partial<EventRow> {
  leaf_index: string;
  leaf_position: string;
  leaf_hash: Buffer;
}

const NO_LEAF = Buffer.alloc(32);

/**
 * Recomputes the leaves [start, end) from the events they name, in keyset pages: each row's
 * canonical content is made once, for its stream's chain and MAC (`ChainCheck`) and for its
 * leaf, compared with the stored one. A leaf whose event is gone, or an index with no leaf row,
 * counts as 32 zero bytes, so every root over it fails; each is named once. Nothing depends on
 * the ranges before, so ranges are checked side by side and their reports joined in order.
 */
export async function checkLeafRange(
  db: Queryable,
  authenticator: EventAuthenticator,
  range: LeafRange,
  sizes: readonly number[],
  pageSize: number,
): Promise<LeafRangeReport> {
  const chains = new ChainCheck(db, authenticator);
  const problems: LogProblem[] = [];
  const tree = new CompactRange();
  const rootsAt = new Map<number, Buffer>();
  const wanted = new Set(sizes.filter((size) => size > range.start && size <= range.end));
  const append = (hash: Buffer): void => {
    tree.append(hash);
    if (wanted.has(range.start + tree.size)) rootsAt.set(range.start + tree.size, tree.root());
  };
  const skipTo = (index: number): void => {
    // A removed leaf row: its place is lost.
    while (range.start + tree.size < index) {
      problems.push({ kind: 'leaf-missing', leafIndex: range.start + tree.size });
      append(NO_LEAF);
    }
  };

  const page = (after: number): Promise<LeafRow[]> =>
    db.query<LeafRow[]>(
      `select l.leaf_index::text, l.position::text as leaf_position, l.leaf_hash, e.*
         from tlog_leaves l
         left join lateral (select ${SELECT_EVENT} from events where events.position = l.position) e on true
        where l.leaf_index > $1 and l.leaf_index < $2 order by l.leaf_index limit $3`,
      [after, range.end, pageSize],
    );
  let leavesChecked = 0;
  let pending: Promise<LeafRow[]> | undefined = page(range.start - 1);
  while (pending) {
    const rows: LeafRow[] = await pending;
    const last = rows[rows.length - 1];
    // Postgres reads the next page while this one is checked.
    pending = last && rows.length === pageSize ? page(Number(last.leaf_index)) : undefined;
    // Should this page's checks throw, the read under way must not surface as an unhandled rejection.
    void pending?.catch(() => undefined);
    const withEvents = rows.filter((row): row is LeafRow & EventRow => row.event_id !== undefined && row.event_id !== null);
    const contents = await chains.check(withEvents);
    let next = 0;
    for (const row of rows) {
      const leafIndex = Number(row.leaf_index);
      skipTo(leafIndex);
      if (row.event_id === undefined || row.event_id === null) {
        problems.push({ kind: 'event-missing', leafIndex, position: row.leaf_position });
        append(NO_LEAF);
      } else {
        const recomputed = eventLeafHashOfRow(row.event_id, row.hash!, contents[next++]!);
        if (!recomputed.equals(row.leaf_hash)) problems.push({ kind: 'event-altered', leafIndex, position: row.leaf_position });
        append(recomputed);
      }
      leavesChecked += 1;
    }
  }
  skipTo(range.end);
  return { leavesChecked, problems, root: tree.root(), rootsAt, chains: chains.report() };
}
