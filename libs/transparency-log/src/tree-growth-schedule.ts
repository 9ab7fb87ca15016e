import type { GlobalPosition } from '@keyledger/contracts';
import { compareGlobalPositions } from '@keyledger/event-store';

/**
 * A tree that waits for the store too long is growing late anyway: the bus is away (then nothing
 * was published either) or another auditor grows it; a pass this often keeps it within reach.
 */
export const MAX_TREE_QUIET_MS = 30_000;

/**
 * When a pass of tree growth is worth its queries. A pass locks the tree's head row in a
 * transaction, and an idle store would pay that (and Postgres a commit) every interval for
 * nothing: a pass is due only once the events this process has seen (its key projection applies
 * every event the relay publishes) are past the tree's end, or once `maxQuietMs` went by.
 */
export class TreeGrowthSchedule {
  private treeEnd: GlobalPosition | undefined;
  private lastPassAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly maxQuietMs = MAX_TREE_QUIET_MS) {}

  /** Whether to run a pass now, given the newest store position this process has seen. */
  due(seen: GlobalPosition, now: number): boolean {
    if (!this.treeEnd || now - this.lastPassAt >= this.maxQuietMs) return true;
    return compareGlobalPositions(seen, this.treeEnd) > 0;
  }

  /** A pass ended with the tree covering the store up to `treeEnd`. */
  passed(treeEnd: GlobalPosition, now: number): void {
    this.treeEnd = treeEnd;
    this.lastPassAt = now;
  }
}
