import type { EventEnvelope } from '@keyledger/contracts';
import { MESSAGE_HEADERS, categoryOf, eventEnvelopeSchema, eventSubject } from '@keyledger/contracts';
import { headers } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';

export interface EncodedEventMessage {
  readonly subject: string;
  readonly payload: string;
  readonly headers: MsgHdrs;
  readonly msgId: string;
}

/**
 * The message the relay publishes for a stored event: the whole envelope as JSON, and the
 * fields routers and tracers need as headers, including the W3C trace context taken from
 * the event's metadata so one trace spans the command, the store and every consumer.
 */
export function encodeEventMessage(subjectPrefix: string, event: EventEnvelope): EncodedEventMessage {
  const h = headers();
  h.set(MESSAGE_HEADERS.msgId, event.eventId);
  h.set(MESSAGE_HEADERS.eventType, event.type);
  h.set(MESSAGE_HEADERS.schemaVersion, String(event.schemaVersion));
  h.set(MESSAGE_HEADERS.streamId, event.streamId);
  h.set(MESSAGE_HEADERS.streamVersion, String(event.streamVersion));
  h.set(MESSAGE_HEADERS.position, event.position);
  h.set(MESSAGE_HEADERS.transactionId, event.transactionId);
  if (event.metadata.traceparent) h.set(MESSAGE_HEADERS.traceparent, event.metadata.traceparent);
  if (event.metadata.tracestate) h.set(MESSAGE_HEADERS.tracestate, event.metadata.tracestate);
  return {
    subject: eventSubject(subjectPrefix, categoryOf(event.streamId) ?? 'unknown', event.type),
    payload: JSON.stringify(event),
    headers: h,
    msgId: event.eventId,
  };
}

/** A message body that is not a valid event envelope: never retried, dead-lettered at once. */
export class MalformedEventMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEventMessageError';
  }
}

export function decodeEventMessage(payload: Uint8Array): EventEnvelope {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(payload));
  } catch (error) {
    throw new MalformedEventMessageError(`event message is not JSON: ${(error as Error).message}`);
  }
  const parsed = eventEnvelopeSchema.safeParse(json);
  if (!parsed.success)
    throw new MalformedEventMessageError(
      `event message is not a valid envelope: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}
