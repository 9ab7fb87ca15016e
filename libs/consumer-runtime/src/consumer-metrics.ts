import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { DurableConsumer, HandledDelivery } from './durable-consumer.js';

/** A consumer whose backlog can be asked: any `DurableConsumer`, in either mode. */
export type WatchedConsumer = Pick<DurableConsumer<unknown>, 'name' | 'backlog'>;

export interface ConsumerMetrics {
  /** Pass to the consumer (`onDelivery`): counts deliveries, redeliveries and dead letters, observes lag. */
  readonly onDelivery: (delivery: HandledDelivery) => void;
  /** A consumer whose backlog the pending gauge asks JetStream for at each scrape; replaces one of the same name. */
  watch(consumer: WatchedConsumer): void;
}

/**
 * Metrics of the durable consumers of one process, labelled by consumer: what happened to
 * each delivery, how many were redeliveries, how long events took from the command to the
 * projection, and how many messages wait in JetStream.
 */
export function consumerMetrics(registry: Registry, clock: () => number = Date.now): ConsumerMetrics {
  const watched = new Map<string, WatchedConsumer>();
  const deliveries = new Counter({
    name: 'keyledger_consumer_deliveries_total',
    help: 'Deliveries handled, by outcome: applied, duplicate (already applied), retry-scheduled, dead-lettered, rejected (not authentic or not valid: skipped)',
    labelNames: ['consumer', 'outcome'],
    registers: [registry],
  });
  const redeliveries = new Counter({
    name: 'keyledger_consumer_redeliveries_total',
    help: 'Deliveries of a message delivered before (after a failure, a nak or an ack timeout)',
    labelNames: ['consumer'],
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'keyledger_consumer_dead_letters_total',
    help: 'Messages published to the dead-letter stream and terminated',
    labelNames: ['consumer'],
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'keyledger_consumer_lag_seconds',
    help: "From the event's command to its projection committing it",
    labelNames: ['consumer'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300],
    registers: [registry],
  });
  new Gauge({
    name: 'keyledger_consumer_pending_messages',
    help: 'Messages JetStream holds for the consumer, not yet applied (pending plus unacknowledged; -1 when JetStream does not answer)',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      await Promise.all(
        [...watched.values()].map(async (consumer) => {
          const backlog = await consumer.backlog().catch(() => undefined);
          this.set({ consumer: consumer.name }, backlog ? backlog.pending + backlog.ackPending : -1);
        }),
      );
    },
  });
  return {
    onDelivery: ({ consumer, outcome, deliveryCount, occurredAt }) => {
      deliveries.inc({ consumer, outcome });
      if (deliveryCount > 1) redeliveries.inc({ consumer });
      if (outcome === 'dead-lettered') deadLetters.inc({ consumer });
      if (outcome === 'applied' && occurredAt) lag.observe({ consumer }, Math.max(0, clock() - Date.parse(occurredAt)) / 1000);
    },
    watch: (consumer) => {
      watched.set(consumer.name, consumer);
    },
  };
}
