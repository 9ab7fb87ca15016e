import { z } from 'zod';

/** W3C trace context `traceparent`: version-traceid-parentid-flags. */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Who and what caused an event. Stored with every event and carried on the bus, so the
 * audit trail can answer "who did this, as part of which request" without other sources.
 */
const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

export const eventMetadataSchema = z
  .object({
    /** The principal that issued the command: an admin key id, a service, `system:rotator`. */
    actor: printable(200),
    /** Groups every event caused by one external request. */
    correlationId: printable(100),
    /** The event or command id that directly caused this one. */
    causationId: printable(100),
    traceparent: z.string().regex(TRACEPARENT_PATTERN).optional(),
    // Printable ASCII only: it becomes a NATS header, where CR or LF would break the message.
    tracestate: z
      .string()
      .max(512)
      .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII')
      .optional(),
  })
  .strict();

export type EventMetadata = z.infer<typeof eventMetadataSchema>;

/** The positional identity of an event in the global log. */
export interface GlobalPosition {
  /** Id (xid8, as a decimal string) of the transaction that wrote the event. */
  readonly transactionId: string;
  /** Global insertion position (bigint as a decimal string). */
  readonly position: string;
}

/**
 * An event as it is read from the store and published on the bus. `data` is typed by the
 * consumer after checking `type` and `schemaVersion`.
 */
export interface EventEnvelope<TData = unknown> extends GlobalPosition {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly occurredAt: string;
  readonly data: TData;
  readonly metadata: EventMetadata;
  /** Hex SHA-256 of the previous hash of the stream and this event in canonical form. */
  readonly hash: string;
}

const decimalString = z.string().regex(/^\d{1,20}$/);

/** Event ids: RFC 9562 UUIDs in lowercase, as the store accepts and every consumer checks. */
export const eventIdSchema = z.uuid().regex(/^[0-9a-f-]+$/, 'must be lowercase');

/** Upper bound of an event's JSON (data and metadata), well below NATS's 1 MiB max_payload. */
export const MAX_EVENT_BYTES = 256 * 1024;

const eventEnvelopeSchema = z
  .object({
    eventId: eventIdSchema,
    type: z.string().min(1).max(100),
    schemaVersion: z.number().int().positive(),
    streamId: z.string().min(1).max(250),
    streamVersion: z.number().int().positive(),
    occurredAt: z.iso.datetime({ offset: true }),
    data: z.unknown(),
    metadata: eventMetadataSchema,
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    transactionId: decimalString,
    position: decimalString,
  })
  .strict();

/**
 * The relay's seal on a published event: the version of the event key (`KEYLEDGER_EVENT_KEYS`)
 * and the HMAC-SHA256 (base64) over the whole envelope, its position and transaction id
 * included, so a copy moved to another position does not verify.
 */
export const eventSealSchema = z
  .object({
    v: z.number().int().min(0).max(999_999),
    mac: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be base64 of 32 bytes'),
  })
  .strict();

export type EventSeal = z.infer<typeof eventSealSchema>;

/**
 * The body of an event message on the bus: the envelope and the relay's seal. Only the bus's
 * one decode-and-verify function (`EventMessageReader`, libs/event-bus) parses it; nothing else
 * turns bytes into an EventEnvelope (tools/src/event-decoding.unit.spec.ts).
 */
export const eventMessageSchema = eventEnvelopeSchema.extend({ auth: eventSealSchema }).strict();
