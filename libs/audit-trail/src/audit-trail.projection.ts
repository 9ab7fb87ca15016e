import type { EventEnvelope } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES } from '@keyledger/contracts';
import type { Projection, ProjectionTransaction } from '@keyledger/consumer-runtime';

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`). */
function traceIdOf(traceparent: string | undefined): string | null {
  return traceparent?.split('-')[1] ?? null;
}

/** A string field of an event's data (`tenant`, `owner`), if it has one. */
function fieldOf(data: unknown, field: 'tenant' | 'owner'): string | undefined {
  const value = (data as Record<string, unknown> | null)?.[field];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Records every event of the store in the audit trail, once (the consumer runtime's inbox
 * makes redeliveries harmless; the primary key, the event id with its time, is the second guard). An
 * event that does not name its tenant or owner (KeySuspended, KeyRevoked, …) takes those of
 * its stream's first event, read from the store itself: a redelivery that reorders events (a
 * failed KeyIssued retried after the KeyRevoked behind it) changes nothing.
 */
export class AuditTrailProjection implements Projection {
  readonly name = DURABLE_CONSUMER_NAMES.auditTrail;

  async apply(event: EventEnvelope, tx: ProjectionTransaction): Promise<void> {
    await tx.query(
      `insert into audit_trail (event_id, transaction_id, position, stream_id, stream_version, type, tenant, owner, actor, correlation_id, causation_id, trace_id, occurred_at)
       values ($1, $2::xid8, $3, $4, $5, $6,
               coalesce($7, (select data->>'tenant' from events where stream_id = $4 and stream_version = 1)),
               coalesce($13, (select data->>'owner' from events where stream_id = $4 and stream_version = 1)),
               $8, $9, $10, $11, $12)
       on conflict (event_id, occurred_at) do nothing`,
      [
        event.eventId,
        event.transactionId,
        event.position,
        event.streamId,
        event.streamVersion,
        event.type,
        fieldOf(event.data, 'tenant') ?? null,
        event.metadata.actor,
        event.metadata.correlationId,
        event.metadata.causationId,
        traceIdOf(event.metadata.traceparent),
        event.occurredAt,
        fieldOf(event.data, 'owner') ?? null,
      ],
    );
  }

  async reset(tx: ProjectionTransaction): Promise<void> {
    await tx.query(`delete from audit_trail`);
  }
}
