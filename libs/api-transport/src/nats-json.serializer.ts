import type { Msg } from '@nats-io/transport-node';
import type { ConsumerDeserializer, IncomingRequest, Serializer } from '@nestjs/microservices';
import { NATS_DEFAULT_MAX_PAYLOAD } from '@keyledger/nats-connection';

/** Marks a request body that was not JSON, so the handler answers INVALID_ARGUMENT. */
export const NOT_JSON = Symbol('NOT_JSON');

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body of a plain-JSON NATS request: `{}` when empty, `NOT_JSON` when it is not UTF-8 JSON
 * (the handler turns that into INVALID_ARGUMENT / MALFORMED).
 */
export function decodeJsonRequest(data: Uint8Array): unknown {
  if (data.length === 0) return {};
  try {
    return JSON.parse(UTF8.decode(data));
  } catch {
    return NOT_JSON;
  }
}

/**
 * Nest's NATS transport wraps payloads in its own envelope ({ pattern, data, id }). These
 * two classes make it speak plain JSON instead, so any NATS client in any language calls
 * `<prefix>.v1.keys.verify` with a JSON body and gets a JSON reply.
 */
export class NatsJsonRequestDeserializer implements ConsumerDeserializer {
  private nextId = 0;

  deserialize(message: Msg, options?: { channel?: string; replyTo?: string }): IncomingRequest {
    const data = decodeJsonRequest(message.data);
    this.nextId += 1;
    return { pattern: options?.channel ?? message.subject, data, id: options?.replyTo ? String(this.nextId) : (undefined as unknown as string) };
  }
}

export class NatsJsonReplySerializer implements Serializer {
  /**
   * @param maxReplyBytes the largest reply sent, or where to read it at each reply (the server's
   *   `max_payload`, which a reconnect may change); a larger one is replaced by an error, because
   *   the server would drop it and the caller would only see a timeout.
   * @param onOversize told (for the log) whenever a reply was too large, with the limit it was over.
   */
  constructor(
    private readonly maxReplyBytes: number | (() => number) = NATS_DEFAULT_MAX_PAYLOAD,
    private readonly onOversize: (bytes: number, limit: number) => void = () => undefined,
  ) {}

  serialize(packet: { response?: unknown; err?: unknown }): { data: string; headers: undefined } {
    const body =
      packet.err !== undefined && packet.response === undefined ? { ok: false, error: { code: 'INTERNAL', message: 'internal error' } } : packet.response;
    const data = JSON.stringify(body ?? null);
    // Only a reply near the limit can exceed it in bytes: measure those alone.
    const limit = typeof this.maxReplyBytes === 'number' ? this.maxReplyBytes : this.maxReplyBytes();
    const bytes = data.length * 3 > limit ? Buffer.byteLength(data) : data.length;
    if (bytes <= limit) return { data, headers: undefined };
    this.onOversize(bytes, limit);
    const message = `the reply is ${bytes} bytes, more than the ${limit} a NATS message may carry; ask for less (page the request)`;
    return { data: JSON.stringify({ ok: false, error: { code: 'INTERNAL', message } }), headers: undefined };
  }
}
