import type { JetStreamClient } from '@nats-io/jetstream';
import type { BusTopology } from '@keyledger/event-bus';
import type { UsageBatchPublisher } from './usage-buffer.js';

/**
 * Publishes usage batches to the usage stream, with the batch id as `Nats-Msg-Id`: a retry
 * of a publish whose ack was lost is dropped by JetStream within its duplicate window.
 */
export function jetStreamUsagePublisher(js: JetStreamClient, topology: BusTopology, timeoutMs = 5000): UsageBatchPublisher {
  return async (batch) => {
    await js.publish(topology.usageSubject, batch.payload, { msgID: batch.batchId, timeout: timeoutMs });
  };
}
