import type { DataSource } from 'typeorm';
import type { EventAuthenticator } from '@keyledger/event-auth';
import type { ChainBreak, ChainReport, EventRow } from '@keyledger/event-store';
import { ChainCheck, SELECT_EVENT } from '@keyledger/event-store';
import { parseCheckpoint } from './checkpoint.js';
import type { LeafRange, LeafRangeReport } from './leaf-range-check.js';
import { checkLeafRange } from './leaf-range-check.js';
import type { LeafRangeWorkers } from './leaf-range-workers.js';
import { startLeafRangeWorkers } from './leaf-range-workers.js';
import type { LogProblem, LogReport } from './log-report.js';
import { CompactRange, EMPTY_ROOT, ProofRangeError, consistencyProof, proofNodes, verifyConsistency } from './merkle-tree.js';
import { readTreeNodes } from './postgres-transparency-log.js';
import type { NoteVerifierKey } from './signed-note.js';
import { openNote } from './signed-note.js';
import { NoteError } from './transparency-log.errors.js';

/** Leaves hashed apart and joined by their roots: a power of two, so each range but the last is a complete subtree. */
const DEFAULT_RANGE_LEAVES = 65_536;

/** How many rows the tree passed over are named; past that, the first ones say enough. */
const MAX_NAMED_SKIPPED = 1000;

export interface VerifyLogOptions {
  /** Rows read per query. */
  readonly pageSize?: number;
  /** Leaves recomputed per range, a power of two (ranges are joined by their roots). */
  readonly rangeLeaves?: number;
  /** Threads to check the ranges on, side by side, each on its own connection; without, they are checked here one after another. */
  readonly workers?: LeafRangeWorkers;
}

/**
 * `keyledger audit verify`: checks the whole store against itself and against what the log
 * signed. Every stream's chain and every row's MAC; every leaf recomputed from its event's row;
 * the root of every signed checkpoint recomputed from the store's rows; every checkpoint's
 * signature under the log's key; consistency between successive checkpoints in the stored
 * tree; and no row of the store passed over. One pass over the rows: the leaves in log order,
 * in ranges of `rangeLeaves` (`checkLeafRange`, here one after another or on `workers` side by
 * side) whose roots are joined, then the rows that are no leaf; each row's canonical content is
 * made once for its chain hash, its MAC and its leaf (`ChainCheck`). Reads in keyset pages;
 * memory is bounded by the streams each `ChainCheck` remembers and a report per range. Run it
 * with a role that may read the events and tlog_* tables.
 */
export async function verifyTransparencyLog(
  db: DataSource,
  authenticator: EventAuthenticator,
  logKeys: readonly NoteVerifierKey[],
  options: VerifyLogOptions = {},
): Promise<LogReport> {
  const pageSize = options.pageSize ?? 5000;
  const rangeLeaves = options.rangeLeaves ?? DEFAULT_RANGE_LEAVES;
  if (!Number.isSafeInteger(rangeLeaves) || rangeLeaves < 1 || 2 ** Math.round(Math.log2(rangeLeaves)) !== rangeLeaves)
    throw new ProofRangeError(`leaves per range must be a power of two, got ${rangeLeaves}`);
  const problems: LogProblem[] = [];

  const checkpointRows = await db.query<{ tree_size: string; root_hash: Buffer; note: string }[]>(
    `select tree_size::text, root_hash, note from tlog_checkpoints order by tlog_checkpoints.tree_size`,
  );
  const checkpoints = checkpointRows.map((row) => {
    const treeSize = Number(row.tree_size);
    try {
      const parsed = parseCheckpoint(openNote(row.note, logKeys).text);
      if (parsed.size !== treeSize || !parsed.rootHash.equals(row.root_hash))
        throw new NoteError('MALFORMED_NOTE', 'the note does not say the size and root stored with it');
      return { treeSize, rootHash: parsed.rootHash };
    } catch (error) {
      problems.push({ kind: 'checkpoint-signature', treeSize, detail: (error as Error).message });
      return { treeSize, rootHash: row.root_hash };
    }
  });
  // The root of the tree recomputed from the store, at each size a checkpoint signed (folding every size's would cost a root per leaf).
  const sizes = checkpoints.map((c) => c.treeSize);
  const rootAt = new Map<number, Buffer>(sizes.includes(0) ? [[0, EMPTY_ROOT]] : []);
  // The tree runs to its highest stored leaf: leaf rows removed at its end leave it shorter than a
  // checkpoint says. Its size and head are read in one statement (one snapshot), so the tree the
  // auditor grows meanwhile changes neither: rows it makes leaves of later are checked below as rows without one.
  const [top] = await db.query<{ size: string; transaction_id: string | null; position: string | null }[]>(
    `select (select coalesce(max(leaf_index) + 1, 0) from tlog_leaves)::text as size, h.transaction_id::text, h.position::text
       from (select 1) as one left join tlog_head h on h.id`,
  );
  const treeSize = Number(top?.size ?? 0);
  const head = { transactionId: top?.transaction_id ?? '0', position: top?.position ?? '0' };
  const ranges: LeafRange[] = [];
  for (let start = 0; start < treeSize; start += rangeLeaves) ranges.push({ start, end: Math.min(start + rangeLeaves, treeSize) });
  const reports = await checkRanges(db, authenticator, ranges, sizes, pageSize, options.workers);
  // The complete ranges so far, each a subtree of the tree: their roots, joined as leaves are.
  const joined = new CompactRange();
  let leavesChecked = 0;
  const breaks: ChainBreak[] = [];
  let streamsChecked = 0;
  let eventsChecked = 0;
  for (const range of reports) {
    problems.push(...range.problems);
    leavesChecked += range.leavesChecked;
    for (const [size, root] of range.rootsAt) rootAt.set(size, joined.rootFollowedBy(root));
    joined.append(range.root);
    breaks.push(...range.chains.breaks);
    streamsChecked += range.chains.streamsChecked;
    eventsChecked += range.chains.eventsChecked;
  }

  // Rows that are no leaf: appended after the tree's head (their chains and MACs checked like any
  // other), or at or before it, which the tree passed over.
  const chains = new ChainCheck(db, authenticator);
  const skipped: { transactionId: string; position: string }[] = [];
  let after = '0';
  for (;;) {
    const rows = await db.query<(EventRow & { passed: boolean })[]>(
      `select ${SELECT_EVENT}, (transaction_id, position) <= ($3::xid8, $4::bigint) as passed from events
        where events.position > $1::bigint and not exists (select 1 from tlog_leaves l where l.position = events.position and l.leaf_index < $5)
        order by events.position limit $2`,
      [after, pageSize, head.transactionId, head.position, treeSize],
    );
    await chains.check(rows);
    for (const row of rows) if (row.passed) skipped.push({ transactionId: row.transaction_id, position: row.position });
    const last = rows[rows.length - 1];
    if (!last || rows.length < pageSize) break;
    after = last.position;
  }
  // In log order, as the tree would have taken them.
  skipped.sort((a, b) => compareBigInt(a.transactionId, b.transactionId) || compareBigInt(a.position, b.position));
  for (const { position } of skipped.slice(0, MAX_NAMED_SKIPPED)) problems.push({ kind: 'event-not-in-log', position });

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

  const untracked = chains.report();
  breaks.push(...untracked.breaks);
  const report: ChainReport = {
    ok: breaks.length === 0,
    streamsChecked: streamsChecked + untracked.streamsChecked,
    eventsChecked: eventsChecked + untracked.eventsChecked,
    breaks,
  };
  const latest = checkpoints[checkpoints.length - 1];
  const latestRoot = latest && rootAt.get(latest.treeSize);
  const ordered = problems.flatMap((p) => ('leafIndex' in p && 'position' in p ? [p] : [])).sort((a, b) => a.leafIndex - b.leafIndex);
  const firstBadPosition = ordered[0]?.position ?? problems.find((p) => p.kind === 'event-not-in-log')?.position ?? report.breaks[0]?.position;
  return {
    ok: report.ok && problems.length === 0,
    chains: report,
    leavesChecked,
    checkpointsChecked: checkpoints.length,
    latestCheckpoint: latest && {
      treeSize: latest.treeSize,
      rootHash: latest.rootHash.toString('base64'),
      matches: latestRoot?.equals(latest.rootHash) ?? false,
    },
    problems,
    firstBadPosition,
  };
}

/** Checks the ranges on the threads given, else here one after another; the reports in range order. */
async function checkRanges(
  db: DataSource,
  authenticator: EventAuthenticator,
  ranges: readonly LeafRange[],
  sizes: readonly number[],
  pageSize: number,
  workers: LeafRangeWorkers | undefined,
): Promise<LeafRangeReport[]> {
  // No more threads than ranges: each holds two connections of its own.
  const threads =
    workers && workers.count > 0 && ranges.length > 1 ? startLeafRangeWorkers({ ...workers, count: Math.min(workers.count, ranges.length) }, sizes, pageSize) : undefined;
  const lanes = threads?.lanes ?? [(range: LeafRange) => checkLeafRange(db, authenticator, range, sizes, pageSize)];
  const reports: LeafRangeReport[] = [];
  let next = 0;
  try {
    // Each lane takes the next range as soon as it is free, so a slow range holds up no other.
    await Promise.all(
      lanes.map(async (lane) => {
        for (let i = next++; i < ranges.length; i = next++) reports[i] = await lane(ranges[i]!);
      }),
    );
  } finally {
    await threads?.stop();
  }
  return reports;
}

function compareBigInt(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}
