import type { JetStreamClient } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';
import { MESSAGE_HEADERS, formatUsageSeal } from '@keyledger/contracts';
import type { EventAuthenticator } from '@keyledger/event-auth';
import type { BusTopology } from '@keyledger/event-bus';
import type { UsageBatchPublisher } from './usage-buffer.js';
import type { EncodedUsageBatch } from './usage-groups.js';

/** A usage batch as the usage stream receives it: the bytes of its JSON, and its seal as a header. */
export interface SealedUsageMessage {
  readonly payload: Uint8Array;
  readonly headers: MsgHdrs;
}

/**
 * Seals a batch for the usage stream under the event key's usage batch subkey: over the key
 * version, the batch id (published as `Nats-Msg-Id`) and exactly the bytes published, which the
 * auditor and the anomaly detector check before they read anything of it. Once per batch.
 */
export function sealUsageBatchMessage(authenticator: EventAuthenticator, batch: Pick<EncodedUsageBatch, 'batchId' | 'payload'>): SealedUsageMessage {
  const payload = new TextEncoder().encode(batch.payload);
  const sealed = headers();
  sealed.set(MESSAGE_HEADERS.usageSeal, formatUsageSeal(authenticator.sealUsageBatch(batch.batchId, payload)));
  return { payload, headers: sealed };
}

/**
 * Publishes usage batches to the usage stream, sealed (`sealUsageBatchMessage`), with the batch
 * id as `Nats-Msg-Id`: a retry of a publish whose ack was lost is dropped by JetStream within
 * its duplicate window.
 */
export function jetStreamUsagePublisher(js: JetStreamClient, topology: BusTopology, authenticator: EventAuthenticator, timeoutMs = 5000): UsageBatchPublisher {
  return async (batch) => {
    const message = sealUsageBatchMessage(authenticator, batch);
    await js.publish(topology.usageSubject, message.payload, { msgID: batch.batchId, headers: message.headers, timeout: timeoutMs });
  };
}
