import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';

/**
 * JetStream's API error code (10014, `JSConsumerNotFoundErr`) for a durable consumer that
 * does not exist: the first start of a consumer, or one deleted to replay its stream.
 */
const CONSUMER_NOT_FOUND = JetStreamApiCodes.ConsumerNotFound;

/** What the runtime asks of a durable consumer on the server. */
export interface DurableConsumerConfig {
  readonly name: string;
  readonly stream: string;
  readonly filterSubject: string;
  /** How long JetStream waits for an ack before it redelivers (a crashed handler). */
  readonly ackWaitMs: number;
  /** Unacknowledged messages the server hands out at most; the server's default when absent. */
  readonly maxAckPending?: number;
  /** Where a new durable starts: the stream's first message (the default), or what is published after it is made. */
  readonly startAt?: 'first' | 'new';
}

/**
 * Creates the durable pull consumer (explicit acks, from the stream's first message unless
 * `startAt` says new), or
 * brings an existing one's settings in line with these, so a changed setting applies at the
 * next start without deleting the durable and its position.
 */
export async function ensureDurableConsumer(jsm: JetStreamManager, config: DurableConsumerConfig): Promise<void> {
  const settings = {
    filter_subject: config.filterSubject,
    // Unlimited on the server: the runtime alone decides when to dead-letter, so a message
    // whose dead-letter publish failed is redelivered instead of silently dropped.
    max_deliver: -1,
    ack_wait: nanos(config.ackWaitMs),
    ...(config.maxAckPending === undefined ? {} : { max_ack_pending: config.maxAckPending }),
  };
  try {
    await jsm.consumers.info(config.stream, config.name);
    await jsm.consumers.update(config.stream, config.name, settings);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === CONSUMER_NOT_FOUND)) throw error;
    const deliver_policy = config.startAt === 'new' ? DeliverPolicy.New : DeliverPolicy.All;
    await jsm.consumers.add(config.stream, { durable_name: config.name, ack_policy: AckPolicy.Explicit, deliver_policy, ...settings });
  }
}
