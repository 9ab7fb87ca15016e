import type { EventEnvelope } from '@keyledger/contracts';
import { DURABLE_CONSUMER_NAMES } from '@keyledger/contracts';
import type { Projection, ProjectionTransaction } from '@keyledger/consumer-runtime';

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`). */
function traceIdOf(traceparent: string | undefined): string | null {
  return traceparent?.split('-')[1] ?? null;
}

function tenantOf(data: unknown): string | undefined {
  const tenant = (data as { tenant?: unknown } | null)?.tenant;
  return typeof tenant === 'string' ? tenant : undefined;
}

/**
 * Records every event of the store in the audit trail, once (the consumer runtime's inbox
 * makes redeliveries harmless; the primary key on the event id is the second guard). An
 * event that does not name its tenant (KeySuspended, KeyRevoked, …) takes the tenant of its
 * stream's first event, read from the store itself: a redelivery that reorders events (a
 * failed KeyIssued retried after the KeyRevoked behind it) changes nothing.
 */
export class AuditTrailProjection implements Projection {
  readonly name = DURABLE_CONSUMER_NAMES.auditTrail;

  async apply(event: EventEnvelope, tx: ProjectionTransaction): Promise<void> {
    await tx.query(
      `insert into audit_trail (event_id, transaction_id, position, stream_id, stream_version, type, tenant, actor, correlation_id, causation_id, trace_id, occurred_at)
       values ($1, $2::xid8, $3, $4, $5, $6,
               coalesce($7, (select data->>'tenant' from events where stream_id = $4 and stream_version = 1)),
               $8, $9, $10, $11, $12)
       on conflict (event_id) do nothing`,
      [
        event.eventId,
        event.transactionId,
        event.position,
        event.streamId,
        event.streamVersion,
        event.type,
        tenantOf(event.data) ?? null,
        event.metadata.actor,
        event.metadata.correlationId,
        event.metadata.causationId,
        traceIdOf(event.metadata.traceparent),
        event.occurredAt,
      ],
    );
  }

  async reset(tx: ProjectionTransaction): Promise<void> {
    await tx.query(`delete from audit_trail`);
  }
}
