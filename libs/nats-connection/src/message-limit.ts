import type { NatsConnection } from '@nats-io/transport-node';
import { MAX_EVENT_BYTES } from '@keyledger/contracts';

/** NATS's `max_payload` when a server's configuration sets none: 1 MiB. */
export const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Room kept in every message Keyledger sizes to the server's limit, for what surrounds the part
 * that is split: headers (MAC seal, message id, trace context) and the JSON envelope.
 */
export const MESSAGE_HEADROOM_BYTES = 16 * 1024;

/**
 * The smallest `max_payload` Keyledger runs on. An event cannot be split: with data and metadata
 * of up to MAX_EVENT_BYTES, its envelope and its headers, it must fit in one message. Everything
 * else that can grow (usage batches, rate-limit reports, batch verify answers, API replies) is
 * split or refused within the server's own limit.
 */
export const MIN_NATS_MAX_PAYLOAD = MAX_EVENT_BYTES + 4 * MESSAGE_HEADROOM_BYTES;

/** The largest message the server the connection is on accepts (`max_payload` of its INFO). */
export function maxPayloadOf(nc: Pick<NatsConnection, 'info'>): number {
  return nc.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
}

/**
 * How many bytes a message's splittable part may take on this connection: at most `cap`, and
 * `MESSAGE_HEADROOM_BYTES` under the server's `max_payload`. Read at each use, so a reconnect to
 * a server with another limit is followed.
 */
export function messageBudget(nc: Pick<NatsConnection, 'info'>, cap: number): number {
  return Math.min(cap, maxPayloadOf(nc) - MESSAGE_HEADROOM_BYTES);
}

/** A NATS server whose `max_payload` is below what Keyledger needs (MIN_NATS_MAX_PAYLOAD). */
export class NatsMessageLimitTooSmall extends Error {
  readonly code = 'NATS_MAX_PAYLOAD_TOO_SMALL';

  constructor(
    readonly maxPayload: number,
    readonly server: string,
  ) {
    super(
      `the NATS server at ${server} accepts messages of at most ${maxPayload} bytes (max_payload); Keyledger needs at least ${MIN_NATS_MAX_PAYLOAD} ` +
        `(an event of up to ${MAX_EVENT_BYTES} bytes travels in one message): raise max_payload in the server's configuration (NATS's default is ${NATS_DEFAULT_MAX_PAYLOAD})`,
    );
    this.name = 'NatsMessageLimitTooSmall';
  }
}

/**
 * Refuses a connection to a server that would refuse Keyledger's messages: without this check a
 * relay would retry a large event forever and the events after it would wait behind it.
 */
export function assertMessageLimit(nc: Pick<NatsConnection, 'info' | 'getServer'>): void {
  const maxPayload = maxPayloadOf(nc);
  if (maxPayload < MIN_NATS_MAX_PAYLOAD) throw new NatsMessageLimitTooSmall(maxPayload, nc.getServer());
}
