import type { EventEnvelope, EventRejectionReason } from '@keyledger/contracts';
import { MESSAGE_HEADERS, categoryOf, checkEventData, eventMessageSchema, eventSubject } from '@keyledger/contracts';
import type { EventAuthentication, EventAuthenticator } from '@keyledger/event-auth';
import { headers } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';

export interface EncodedEventMessage {
  readonly subject: string;
  readonly payload: string;
  readonly headers: MsgHdrs;
  readonly msgId: string;
}

/**
 * The message the relay publishes for a stored event (read back and checked by the store):
 * the whole envelope as JSON with the relay's seal (`auth`: HMAC over the envelope, its
 * position included), and the fields routers and tracers need as headers, including the W3C
 * trace context taken from the event's metadata so one trace spans the command, the store and
 * every consumer. Headers are hints: consumers trust only the sealed body.
 */
export function encodeEventMessage(subjectPrefix: string, event: EventEnvelope, authenticator: EventAuthenticator): EncodedEventMessage {
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
  const envelope: EventEnvelope = {
    eventId: event.eventId,
    type: event.type,
    schemaVersion: event.schemaVersion,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    occurredAt: event.occurredAt,
    data: event.data,
    metadata: event.metadata,
    hash: event.hash,
    transactionId: event.transactionId,
    position: event.position,
  };
  return {
    subject: eventSubject(subjectPrefix, categoryOf(event.streamId) ?? 'unknown', event.type),
    payload: JSON.stringify({ ...envelope, auth: authenticator.sealPublished(envelope) }),
    headers: h,
    msgId: event.eventId,
  };
}

/**
 * The one way from a message of the event stream to an EventEnvelope: parse, check the
 * relay's seal, check that it came on its own type's subject, check the data against its
 * type's schema. Whatever fails is reported to the rejection sink (counted, logged, alerted)
 * and `read` answers undefined: the caller skips it and acknowledges it, never applies it.
 * Every consumer of events (DurableEventConsumer, LiveKeyProjection, the relay's resume) reads
 * through one.
 */
export class EventMessageReader {
  constructor(
    private readonly subjectPrefix: string,
    private readonly auth: EventAuthentication,
  ) {}

  /** The authentic event a message carries, or undefined (reported) when it carries none. */
  read(payload: Uint8Array, subject: string): EventEnvelope | undefined {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return this.refuse(subject, 'malformed', undefined, 'not JSON');
    }
    const parsed = eventMessageSchema.safeParse(json);
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(root)'))].join(', ');
      return this.refuse(subject, 'malformed', undefined, `not a sealed event envelope (${fields})`);
    }
    const { auth, ...event } = parsed.data;
    const mac = this.auth.authenticator.checkPublished(event, auth);
    if (mac !== 'ok') return this.refuse(subject, mac, event, mac === 'bad-mac' ? 'the seal does not match the message' : `no event key version ${auth.v} is configured`);
    const category = categoryOf(event.streamId);
    if (category === undefined || subject !== eventSubject(this.subjectPrefix, category, event.type))
      return this.refuse(subject, 'wrong-subject', event, 'published on another subject than its type');
    const problem = checkEventData(event.type, event.schemaVersion, event.data);
    if (problem) return this.refuse(subject, problem.problem, event, problem.message);
    return event;
  }

  private refuse(subject: string, reason: EventRejectionReason, event: EventEnvelope | undefined, detail: string): undefined {
    this.auth.rejections.reject({
      source: 'bus',
      reason,
      subject,
      detail,
      eventId: event?.eventId,
      streamId: event?.streamId,
      streamVersion: event?.streamVersion,
      position: event?.position,
    });
    return undefined;
  }
}
