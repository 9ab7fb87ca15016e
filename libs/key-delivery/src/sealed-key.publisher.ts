import type { JetStreamClient } from '@nats-io/jetstream';
import { deliverySubject } from '@keyledger/contracts';
import type { DeliveryFields, DeliverySigner } from './delivery-signature.js';

/**
 * Publishes deliveries on `<prefix>.v1.delivery.<tenant>.<owner>` through JetStream, so a
 * client that is offline gets them from the delivery stream when it comes back. Each is signed
 * here (`DeliverySigner`): nothing leaves unsigned. The message id is the key id and the send's
 * number (`delivery-<keyId>-<attempt>`): a retried publish of one send is stored once, while
 * each redelivery of an unacknowledged key is a new message.
 */
export class SealedKeyPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    /** Also signs the webhook sends of the same deliveries. */
    readonly signer: DeliverySigner,
  ) {}

  /** Resolves once JetStream has stored the delivery; fails after `timeoutMs` without its answer (default: the connection's timeout). */
  async publish(delivery: DeliveryFields, attempt = 1, timeoutMs?: number): Promise<void> {
    await this.js.publish(deliverySubject(this.prefix, delivery.tenant, delivery.owner), this.signer.body(delivery), {
      msgID: `delivery-${delivery.envelope.keyId}-${attempt}`,
      ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
    });
  }
}
