/** Stable codes of event store failures, for transports and retry decisions. */
export const EVENT_STORE_ERROR_CODES = ['CONCURRENCY_CONFLICT', 'EVENT_ID_CONFLICT', 'INVALID_EVENT', 'STREAM_VERSION_GAP', 'EVENT_INTEGRITY'] as const;
export type EventStoreErrorCode = (typeof EVENT_STORE_ERROR_CODES)[number];

export abstract class EventStoreError extends Error {
  abstract readonly code: EventStoreErrorCode;
  /** Whether repeating the same call after re-reading state can succeed. */
  abstract readonly retryable: boolean;
}

/**
 * The stream was not at the expected version: someone else appended first. Nothing was
 * written. The caller re-reads the stream, decides again and retries.
 */
export class ConcurrencyConflictError extends EventStoreError {
  readonly code = 'CONCURRENCY_CONFLICT';
  readonly retryable = true;
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`);
    this.name = 'ConcurrencyConflictError';
  }
}

/**
 * Some event ids of the batch are already stored, but not as this exact append (a different
 * stream, or only part of the batch). Nothing was written.
 */
export class EventIdConflictError extends EventStoreError {
  readonly code = 'EVENT_ID_CONFLICT';
  readonly retryable = false;
  constructor(readonly eventIds: readonly string[]) {
    super(`event ids already stored by another append: ${eventIds.join(', ')}`);
    this.name = 'EventIdConflictError';
  }
}

/**
 * A stream read for a command holds a row that is not authentic (no MAC, a wrong one, a key
 * version not configured) or not of its type's shape: the stream cannot be folded, so the
 * command stops here and acts on nothing. Raised by `readStream`; the row is also reported as
 * a refused event (counted, logged, alerted). Not retryable: the row stays until an operator
 * deals with it.
 */
export class EventIntegrityError extends EventStoreError {
  readonly code = 'EVENT_INTEGRITY';
  readonly retryable = false;
  constructor(
    readonly streamId: string,
    readonly streamVersion: number | undefined,
    readonly position: string | undefined,
    readonly reason: string,
  ) {
    super(`stream ${streamId} holds an event that fails its integrity check at version ${streamVersion ?? '?'} (position ${position ?? '?'}): ${reason}`);
    this.name = 'EventIntegrityError';
  }
}

/** The append request itself is malformed. Nothing was written. */
export class InvalidEventError extends EventStoreError {
  readonly code = 'INVALID_EVENT';
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

/** SQLSTATE of the database's refusal of an event whose version would leave a gap in its stream. */
export const STREAM_VERSION_GAP_SQLSTATE = 'KL002';

/**
 * The database refused an event whose version is past its stream's newest plus one: the
 * versions of a stream are consecutive whoever writes them. The store computes versions from
 * the head it read, so from the store this means a bug; from a writer going around the store,
 * an attempt to leave a hole in a stream's history. Nothing of the statement was written, and
 * repeating it cannot succeed.
 */
export class StreamVersionGapError extends EventStoreError {
  readonly code = 'STREAM_VERSION_GAP';
  readonly retryable = false;
  constructor(
    readonly streamId: string,
    readonly version: number,
    readonly headVersion: number,
  ) {
    super(`stream ${streamId} is at version ${headVersion}: the database refused version ${version}, which would leave a gap`);
    this.name = 'StreamVersionGapError';
  }
}

/**
 * The database's refusal of a stream version gap, typed, when `error` is one (as thrown by a
 * query, with TypeORM's `driverError` or pg's error itself); otherwise undefined.
 */
export function streamVersionGapOf(error: unknown): StreamVersionGapError | undefined {
  if (error instanceof StreamVersionGapError) return error;
  const cause = ((error as { driverError?: unknown } | null)?.driverError ?? error) as { code?: unknown; detail?: unknown } | null;
  if (cause?.code !== STREAM_VERSION_GAP_SQLSTATE || typeof cause.detail !== 'string') return undefined;
  const detail = JSON.parse(cause.detail) as { streamId: string; version: number; head: number };
  return new StreamVersionGapError(detail.streamId, detail.version, detail.head);
}
