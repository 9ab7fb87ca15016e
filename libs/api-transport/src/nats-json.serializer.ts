import type { Msg } from '@nats-io/transport-node';
import type { ConsumerDeserializer, IncomingRequest, Serializer } from '@nestjs/microservices';

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

/** NATS's default largest message (`max_payload`), which Keyledger's servers keep. */
export const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export class NatsJsonReplySerializer implements Serializer {
  /**
   * @param maxReplyBytes the largest reply sent; a larger one is replaced by an error, because
   *   the server would drop it and the caller would only see a timeout.
   * @param onOversize told (for the log) whenever a reply was too large.
   */
  constructor(
    private readonly maxReplyBytes = NATS_DEFAULT_MAX_PAYLOAD,
    private readonly onOversize: (bytes: number) => void = () => undefined,
  ) {}

  serialize(packet: { response?: unknown; err?: unknown }): { data: string; headers: undefined } {
    const body =
      packet.err !== undefined && packet.response === undefined ? { ok: false, error: { code: 'INTERNAL', message: 'internal error' } } : packet.response;
    const data = JSON.stringify(body ?? null);
    // Only a reply near the limit can exceed it in bytes: measure those alone.
    const bytes = data.length * 3 > this.maxReplyBytes ? Buffer.byteLength(data) : data.length;
    if (bytes <= this.maxReplyBytes) return { data, headers: undefined };
    this.onOversize(bytes);
    const message = `the reply is ${bytes} bytes, more than the ${this.maxReplyBytes} a NATS message may carry; ask for less (page the request)`;
    return { data: JSON.stringify({ ok: false, error: { code: 'INTERNAL', message } }), headers: undefined };
  }
}
