import type { DataSource } from 'typeorm';
import type { EventAuthenticator } from '@keyledger/event-auth';
import type { ChainReport, EventRow } from '@keyledger/event-store';
import { SELECT_EVENT, toEnvelope, verifyEventChains } from '@keyledger/event-store';
import { parseCheckpoint } from './checkpoint.js';
import { eventLeafHash } from './event-leaf.js';
import { CompactRange, consistencyProof, proofNodes, verifyConsistency } from './merkle-tree.js';
import { readTreeNodes } from './postgres-transparency-log.js';
import type { NoteVerifierKey } from './signed-note.js';
import { openNote } from './signed-note.js';
import { NoteError } from './transparency-log.errors.js';

/** What can be wrong with the log, each with where. */
export type LogProblem =
  /** The event at a leaf's position no longer hashes to the leaf: its row was changed. */
  | { readonly kind: 'event-altered'; readonly leafIndex: number; readonly position: string }
  /** A leaf's event is gone from the store. */
  | { readonly kind: 'event-missing'; readonly leafIndex: number; readonly position: string }
  /** The tree skips an index: a leaf row was removed. */
  | { readonly kind: 'leaf-missing'; readonly leafIndex: number }
  /** A row of the store the tree passed over without making it a leaf: written outside the store (refused), or placed into the past. */
  | { readonly kind: 'event-not-in-log'; readonly position: string }
  /** The tree recomputed from the store does not have the root a signed checkpoint says. */
  | { readonly kind: 'checkpoint-mismatch'; readonly treeSize: number }
  /** A stored checkpoint whose signature does not verify under the log's key, or that is malformed. */
  | { readonly kind: 'checkpoint-signature'; readonly treeSize: number; readonly detail: string }
  /** Two successive checkpoints with no consistency proof between them in the stored tree. */
  | { readonly kind: 'checkpoints-inconsistent'; readonly oldSize: number; readonly newSize: number }
  /** A checkpoint of more leaves than the tree holds. */
  | { readonly kind: 'checkpoint-beyond-tree'; readonly treeSize: number };

export interface LogReport {
  readonly ok: boolean;
  readonly chains: ChainReport;
  readonly leavesChecked: number;
  readonly checkpointsChecked: number;
  /** The latest checkpoint, and whether the store still has its root. */
  readonly latestCheckpoint?: { readonly treeSize: number; readonly rootHash: string; readonly matches: boolean } | undefined;
  readonly problems: readonly LogProblem[];
  /** The earliest position in log order where something is wrong: a leaf's, else a chain break's. */
  readonly firstBadPosition?: string | undefined;
}

interface LeafRow extends Partial<EventRow> {
  leaf_index: string;
  leaf_position: string;
  leaf_hash: Buffer;
}

/**
 * `keyledger audit verify`: checks the whole store against itself and against what the log
 * signed. Every stream's chain and every row's MAC (verifyEventChains); every leaf recomputed
 * from its event's row, in log order; the root of every signed checkpoint recomputed from the
 * store's rows; every checkpoint's signature under the log's key; consistency between
 * successive checkpoints in the stored tree; and no row of the store passed over. Reads in
 * keyset pages, in constant memory. Run it with a role that may read the events and tlog_* tables.
 */
export async function verifyTransparencyLog(
  db: DataSource,
  authenticator: EventAuthenticator,
  logKeys: readonly NoteVerifierKey[],
  options: { pageSize?: number } = {},
): Promise<LogReport> {
  const pageSize = options.pageSize ?? 5000;
  const chains = await verifyEventChains(db, authenticator, { pageSize });
  const problems: LogProblem[] = [];

  const checkpointRows = await db.query<{ tree_size: string; root_hash: Buffer; note: string }[]>(`select tree_size::text, root_hash, note from tlog_checkpoints order by tlog_checkpoints.tree_size`);
  const checkpoints = checkpointRows.map((row) => {
    const treeSize = Number(row.tree_size);
    try {
      const parsed = parseCheckpoint(openNote(row.note, logKeys).text);
      if (parsed.size !== treeSize || !parsed.rootHash.equals(row.root_hash)) throw new NoteError('MALFORMED_NOTE', 'the note does not say the size and root stored with it');
      return { treeSize, rootHash: parsed.rootHash };
    } catch (error) {
      problems.push({ kind: 'checkpoint-signature', treeSize, detail: (error as Error).message });
      return { treeSize, rootHash: row.root_hash };
    }
  });
  // The root of the tree recomputed from the store, at each size a checkpoint signed (folding every size's would cost a root per leaf).
  const rootAt = new Map<number, Buffer>();
  const signedSizes = new Set(checkpoints.map((c) => c.treeSize));
  const fromStore = new CompactRange();
  const noteRoot = (): void => {
    if (signedSizes.has(fromStore.size)) rootAt.set(fromStore.size, fromStore.root());
  };
  noteRoot();

  let cursor = -1;
  let leavesChecked = 0;
  for (;;) {
    const rows = await db.query<LeafRow[]>(
      `select l.leaf_index::text, l.position::text as leaf_position, l.leaf_hash, e.*
         from tlog_leaves l
         left join lateral (select ${SELECT_EVENT} from events where events.position = l.position) e on true
        where l.leaf_index > $1 order by l.leaf_index limit $2`,
      [cursor, pageSize],
    );
    for (const row of rows) {
      const leafIndex = Number(row.leaf_index);
      while (fromStore.size < leafIndex) {
        // A removed leaf row: its place is lost, so every root from here on fails; name it once.
        problems.push({ kind: 'leaf-missing', leafIndex: fromStore.size });
        fromStore.append(Buffer.alloc(32));
        noteRoot();
      }
      let recomputed: Buffer;
      if (row.event_id === undefined || row.event_id === null) {
        problems.push({ kind: 'event-missing', leafIndex, position: row.leaf_position });
        recomputed = Buffer.alloc(32);
      } else {
        recomputed = eventLeafHash(toEnvelope(row as EventRow));
        if (!recomputed.equals(row.leaf_hash)) problems.push({ kind: 'event-altered', leafIndex, position: row.leaf_position });
      }
      fromStore.append(recomputed);
      noteRoot();
      leavesChecked += 1;
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < pageSize) break;
    cursor = Number(last.leaf_index);
  }

  for (const checkpoint of checkpoints) {
    const root = rootAt.get(checkpoint.treeSize);
    if (root === undefined) problems.push({ kind: 'checkpoint-beyond-tree', treeSize: checkpoint.treeSize });
    else if (!root.equals(checkpoint.rootHash)) problems.push({ kind: 'checkpoint-mismatch', treeSize: checkpoint.treeSize });
  }
  // Whether the log ever signed two views, judged on its own stored tree (independent of the events table).
  for (let i = 1; i < checkpoints.length; i += 1) {
    const previous = checkpoints[i - 1]!;
    const next = checkpoints[i]!;
    if (previous.treeSize === 0 || next.treeSize > leavesChecked) continue;
    const consistency = { oldSize: previous.treeSize, newSize: next.treeSize };
    let consistent: boolean;
    try {
      const proof = consistencyProof(previous.treeSize, next.treeSize, await readTreeNodes(db, proofNodes({ consistency })));
      consistent = verifyConsistency(previous.treeSize, next.treeSize, previous.rootHash, next.rootHash, proof);
    } catch {
      // A stored node is missing: no proof can be made.
      consistent = false;
    }
    if (!consistent) problems.push({ kind: 'checkpoints-inconsistent', ...consistency });
  }

  // Rows the tree passed over: at or before the head's place in the log, yet no leaf.
  const skipped = await db.query<{ position: string }[]>(
    `select e.position::text from events e, tlog_head h
      where h.id and (e.transaction_id, e.position) <= (h.transaction_id, h.position)
        and not exists (select 1 from tlog_leaves l where l.position = e.position)
      order by e.transaction_id, e.position limit 1000`,
  );
  for (const { position } of skipped) problems.push({ kind: 'event-not-in-log', position });

  const latest = checkpoints[checkpoints.length - 1];
  const latestRoot = latest && rootAt.get(latest.treeSize);
  const ordered = problems.flatMap((p) => ('leafIndex' in p && 'position' in p ? [p] : [])).sort((a, b) => a.leafIndex - b.leafIndex);
  const firstBadPosition = ordered[0]?.position ?? problems.find((p) => p.kind === 'event-not-in-log')?.position ?? chains.breaks[0]?.position;
  return {
    ok: chains.ok && problems.length === 0,
    chains,
    leavesChecked,
    checkpointsChecked: checkpoints.length,
    latestCheckpoint: latest && { treeSize: latest.treeSize, rootHash: latest.rootHash.toString('base64'), matches: latestRoot?.equals(latest.rootHash) ?? false },
    problems,
    firstBadPosition,
  };
}
