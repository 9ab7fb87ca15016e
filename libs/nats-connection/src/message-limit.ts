import type { NatsConnection } from '@nats-io/transport-node';
import { MAX_EVENT_BYTES } from '@keyledger/contracts';

/** NATS's `max_payload` when a server's configuration sets none: 1 MiB. */
export const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Room kept in a message around the part of it that grows: headers (message id, type, stream,
 * trace context, JetStream's expectations: about 3 KiB at most) and the JSON envelope.
 */
export const MESSAGE_HEADROOM_BYTES = 16 * 1024;

/**
 * The smallest `max_payload` Keyledger runs on. An event cannot be split: with data and metadata
 * of up to MAX_EVENT_BYTES, its envelope and its headers, it must fit in one message. Four times
 * the headroom, so the envelope of the largest event leaves room to spare.
 */
export const MIN_NATS_MAX_PAYLOAD = MAX_EVENT_BYTES + 4 * MESSAGE_HEADROOM_BYTES;

/**
 * The most the body of a message Keyledger splits (usage batches, rate-limit reports) may take:
 * sized to the smallest server Keyledger runs on rather than to the one it is connected to now,
 * so a message split before a reconnect still fits whichever server of the cluster takes it.
 */
export const SPLIT_MESSAGE_BYTES = MIN_NATS_MAX_PAYLOAD - MESSAGE_HEADROOM_BYTES;

/** What a connection says of its server: the INFO it holds while connected (NatsConnection's). */
export interface ServerLimitSource {
  readonly info?: { readonly max_payload: number } | undefined;
}

/** The last `max_payload` each connection's server announced: the client forgets it while it reconnects. */
const announced = new WeakMap<object, number>();

/**
 * The largest message the server the connection is on accepts (`max_payload` of its INFO). While
 * the connection is reconnecting the client holds no INFO: the last one's limit stands, or, before
 * any, the smallest limit Keyledger runs on.
 */
export function maxPayloadOf(nc: ServerLimitSource): number {
  const current = nc.info?.max_payload;
  if (current === undefined) return announced.get(nc) ?? MIN_NATS_MAX_PAYLOAD;
  announced.set(nc, current);
  return current;
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
 * relay would retry a large event for good, and the events after it would wait behind it.
 */
export function assertMessageLimit(nc: ServerLimitSource & Pick<NatsConnection, 'getServer'>): void {
  const maxPayload = maxPayloadOf(nc);
  if (maxPayload < MIN_NATS_MAX_PAYLOAD) throw new NatsMessageLimitTooSmall(maxPayload, nc.getServer());
}

/**
 * Checks the limit again after every reconnect (another server of the cluster, or one restarted
 * with another configuration) and tells `onTooSmall` when it is below what Keyledger needs. Ends
 * when the connection closes.
 */
export function watchMessageLimit(nc: Pick<NatsConnection, 'info' | 'getServer' | 'status'>, onTooSmall: (error: NatsMessageLimitTooSmall) => void): void {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== 'reconnect') continue;
      try {
        assertMessageLimit(nc);
      } catch (error) {
        if (error instanceof NatsMessageLimitTooSmall) onTooSmall(error);
        else throw error;
      }
    }
  })();
}
