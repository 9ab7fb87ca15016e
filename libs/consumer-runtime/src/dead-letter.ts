import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { MESSAGE_HEADERS, deadLetterSubject } from '@keyledger/contracts';
import type { Logger } from '@keyledger/observability';
import type { RedeliveryPolicy } from './redelivery-policy.js';
import { redeliveryDelay } from './redelivery-policy.js';

/** What dead-lettering needs: where to publish, whom to tell, and how to retry a failed publish. */
export interface DeadLetterTarget {
  readonly js: JetStreamClient;
  readonly subjectPrefix: string;
  readonly consumer: string;
  readonly logger: Logger;
  readonly redelivery: RedeliveryPolicy;
}

/**
 * Moves a message the consumer gives up on to `<prefix>.dlq.<consumer>` (stream
 * `<event stream>_DLQ`): a copy with its headers plus the reason, the consumer and the
 * delivery count, then terminates the original. When the copy cannot be stored the message
 * is nak'ed with backoff instead, so it comes back rather than being lost.
 */
export async function deadLetter(target: DeadLetterTarget, message: JsMsg, error: unknown): Promise<'dead-lettered' | 'retry-scheduled'> {
  const { consumer, logger } = target;
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const h = headers();
  for (const [key, values] of message.headers ?? []) values.forEach((value) => h.append(key, value));
  h.set(MESSAGE_HEADERS.deadLetterReason, reason.slice(0, 1000));
  h.set(MESSAGE_HEADERS.deadLetterConsumer, consumer);
  h.set(MESSAGE_HEADERS.deadLetterDeliveries, String(message.info.deliveryCount));
  // The original Nats-Msg-Id would be deduplicated against the message itself; a dead
  // letter is its own message, identified by consumer and stream sequence.
  h.delete(MESSAGE_HEADERS.msgId);
  try {
    await target.js.publish(deadLetterSubject(target.subjectPrefix, consumer), message.data, {
      headers: h,
      msgID: `${consumer}:${message.info.streamSequence}`,
    });
  } catch (publishError) {
    // Without a dead letter stored, terminating would lose the message: retry it instead.
    logger.error({ err: publishError, consumer }, 'dead-letter publish failed; message will be redelivered');
    message.nak(redeliveryDelay(target.redelivery, message.info.deliveryCount));
    return 'retry-scheduled';
  }
  logger.error({ consumer, reason, streamSequence: message.info.streamSequence }, 'message dead-lettered');
  // No reason on the term: NATS before 2.10.4 ignores `+TERM <reason>` and would redeliver
  // the message after ack_wait, forever. The reason travels in the dead letter's headers.
  message.term();
  return 'dead-lettered';
}
