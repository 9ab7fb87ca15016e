/** Projections `keyledger replay` rebuilds from the store. */
export const REPLAYABLE_PROJECTIONS = ['audit-trail', 'key-index'] as const;
export type ReplayableProjection = (typeof REPLAYABLE_PROJECTIONS)[number];

/** One way the rebuilt projection and the live one disagree about one entry (an event, a key). */
export interface ReplayDifference {
  /** The event id (audit trail) or key id (key index). */
  readonly id: string;
  /** `missing-live`: only the rebuilt projection has it; `missing-replayed`: only the live one; `field`: both, unequal. */
  readonly kind: 'missing-live' | 'missing-replayed' | 'field';
  /** The fields that differ, for `field`. */
  readonly fields?: readonly string[];
  readonly live?: unknown;
  readonly replayed?: unknown;
}

export interface ReplayReport {
  readonly projection: ReplayableProjection;
  /** What the rebuilt projection was compared with. */
  readonly comparedWith: string;
  /** Events read from the store and applied. */
  readonly events: number;
  /** Rows of the store refused by their MAC or schema (reported by the store; never applied). */
  readonly refused: number;
  /** Entries in the rebuilt projection. */
  readonly entries: number;
  /** Entries only the rebuilt projection has because the live one has not applied them yet (it runs behind the store). */
  readonly notYetLive: number;
  /** Every difference found; `differences` lists the first MAX_LISTED_DIFFERENCES. */
  readonly differenceCount: number;
  readonly differences: readonly ReplayDifference[];
  readonly ms: number;
  readonly eventsPerSecond: number;
}

/** Told of the progress: events applied so far, of about `total`. */
export type ReplayProgress = (applied: number, total: number) => void;

/** At most this many differences are listed (all are counted). */
export const MAX_LISTED_DIFFERENCES = 1000;
