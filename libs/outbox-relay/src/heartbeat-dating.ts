/** One read of the store head, as the heartbeat dates it: see PostgresEventStore.heartbeatHead. */
export interface HeadRead {
  /** Our clock just before the read. */
  readonly at: number;
  /** An event committed before the read waits past the head, behind an older transaction still running. */
  readonly heldBack: boolean;
  /** The read's snapshot xmin: every transaction below it had ended. */
  readonly horizon: bigint;
  /** The read's snapshot xmax: every transaction committed before the read is below it. */
  readonly snapshotEnd: bigint;
}

/**
 * The instant a heartbeat announcing `read`'s head may vouch for: every event committed before
 * it is at or below that head. With nothing held back, the read's own start. Held back, the
 * start of the newest earlier read whose committed transactions have all ended below this
 * read's horizon (its `snapshotEnd` at most this `horizon`): each is readable now, so at or
 * below this head. So a projection's freshness lags by the age of the oldest transaction still
 * running, not by all-or-nothing. Undefined when no earlier read qualifies.
 */
export function vouchedInstant(read: HeadRead, earlier: readonly HeadRead[]): number | undefined {
  if (!read.heldBack) return read.at;
  let newest: number | undefined;
  for (const before of earlier)
    if (before.snapshotEnd <= read.horizon && before.at < read.at && (newest === undefined || before.at > newest)) newest = before.at;
  return newest;
}
