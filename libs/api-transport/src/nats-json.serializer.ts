import type { Msg } from '@nats-io/transport-node';
import type { ConsumerDeserializer, IncomingRequest, Serializer } from '@nestjs/microservices';

/** Marks a request body that was not JSON, so the handler answers INVALID_ARGUMENT. */
export const NOT_JSON = Symbol('NOT_JSON');

/**
 * Nest's NATS transport wraps payloads in its own envelope ({ pattern, data, id }). These
 * two classes make it speak plain JSON instead, so any NATS client in any language calls
 * `<prefix>.v1.keys.verify` with a JSON body and gets a JSON reply.
 */
export class NatsJsonRequestDeserializer implements ConsumerDeserializer {
  private nextId = 0;

  deserialize(message: Msg, options?: { channel?: string; replyTo?: string }): IncomingRequest {
    let data: unknown;
    try {
      data = message.data.length === 0 ? {} : JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(message.data));
    } catch {
      // Invalid UTF-8 or JSON: the handler turns this into INVALID_ARGUMENT / MALFORMED.
      data = NOT_JSON;
    }
    this.nextId += 1;
    return { pattern: options?.channel ?? message.subject, data, id: options?.replyTo ? String(this.nextId) : (undefined as unknown as string) };
  }
}

export class NatsJsonReplySerializer implements Serializer {
  serialize(packet: { response?: unknown; err?: unknown }): { data: string; headers: undefined } {
    const body =
      packet.err !== undefined && packet.response === undefined ? { ok: false, error: { code: 'INTERNAL', message: 'internal error' } } : packet.response;
    return { data: JSON.stringify(body ?? null), headers: undefined };
  }
}
