import type { JetStreamClient } from '@nats-io/jetstream';
import { deliverySubject } from '@keyledger/contracts';
import type { SealedKeyEnvelope } from './sealed-key.js';

/**
 * Publishes sealed keys on `<prefix>.v1.delivery.<tenant>.<owner>` through JetStream, so a
 * client that is offline gets them from the delivery stream when it comes back. The message
 * id is the key id and the send's number (`delivery-<keyId>-<attempt>`): a retried publish of
 * one send is stored once, while each redelivery of an unacknowledged key is a new message.
 */
export class SealedKeyPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
  ) {}

  /** Resolves once JetStream has stored the envelope; fails after `timeoutMs` without its answer (default: the connection's timeout). */
  async publish(tenant: string, owner: string, envelope: SealedKeyEnvelope, attempt = 1, timeoutMs?: number): Promise<void> {
    await this.js.publish(deliverySubject(this.prefix, tenant, owner), JSON.stringify(envelope), {
      msgID: `delivery-${envelope.keyId}-${attempt}`,
      ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
    });
  }
}
