import type { EventEnvelope } from '@keyledger/contracts';

/** The part of a Postgres transaction a projection may use. */
export interface ProjectionTransaction {
  query<T = unknown>(sql: string, parameters?: unknown[]): Promise<T>;
}

/**
 * A read model built from events. `apply` runs inside the same transaction that records
 * the event as processed, so an event is applied exactly once even when redelivered.
 */
export interface Projection {
  /** Unique per projection; also the JetStream durable consumer name. */
  readonly name: string;
  /** Stream category to receive (e.g. `key`), or undefined for every event. */
  readonly category?: string;
  apply(event: EventEnvelope, tx: ProjectionTransaction): Promise<void>;
  /** Empties the read model before a rebuild from position 0. */
  reset(tx: ProjectionTransaction): Promise<void>;
}
