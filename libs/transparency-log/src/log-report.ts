import type { ChainReport } from '@keyledger/event-store';

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
