/** Stable codes of event store failures, for transports and retry decisions. */
export const EVENT_STORE_ERROR_CODES = ['CONCURRENCY_CONFLICT', 'EVENT_ID_CONFLICT', 'INVALID_EVENT', 'EVENT_INTEGRITY'] as const;
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
