import { ApiError } from '@keyledger/contracts';
import { ConcurrencyConflictError, EventIntegrityError, InvalidEventError, isEventStoreUnavailable, streamVersionGapOf } from '@keyledger/event-store';
import { DomainError } from '@keyledger/key-domain';
import { NotInLogError, ProofRangeError } from '@keyledger/transparency-log';

/**
 * The one mapping from what the application throws to the API error a caller sees: an ApiError
 * as it is, a rule violation (DomainError) with its own code, a lost race, what the store refused
 * in the request (a correlation id too long, say), an event the database refused as a gap in
 * its stream (never a caller's fault: INTERNAL, named), a stream holding an event that fails
 * its integrity check (INTERNAL, without its details: the refusal is already logged and
 * alerted), an unreachable store, and a transparency-log proof that cannot be made. Undefined for
 * anything else: a bug, which transports log and answer as INTERNAL.
 */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof DomainError) return new ApiError(error.code, error.message);
  if (error instanceof ConcurrencyConflictError) return new ApiError('CONCURRENCY_CONFLICT', 'a concurrent change came first; retry');
  if (error instanceof InvalidEventError) return new ApiError('INVALID_ARGUMENT', error.message);
  if (streamVersionGapOf(error)) return new ApiError('INTERNAL', 'the database refused an event that would leave a gap in its stream');
  if (error instanceof EventIntegrityError) return new ApiError('INTERNAL', 'the stored history of this resource fails its integrity check; nothing was changed');
  if (isEventStoreUnavailable(error)) return new ApiError('UNAVAILABLE', 'the database is unreachable; retry later');
  // The transparency log: a proof of what it does not hold, or of sizes that cannot be.
  if (error instanceof NotInLogError) return new ApiError('NOT_IN_LOG', error.message);
  if (error instanceof ProofRangeError) return new ApiError('INVALID_ARGUMENT', error.message);
  return undefined;
}
