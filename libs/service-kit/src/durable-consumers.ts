import type { ConsumerMetrics, ConsumerSettings, DurableConsumer, DurableConsumerDependencies, Projection } from '@keyledger/consumer-runtime';
import { DurableEventConsumer, consumerMetrics } from '@keyledger/consumer-runtime';
import type { ServiceContext } from './bootstrap-service.js';

/**
 * The durable consumers of one service, wired in one place: each is built with the service's
 * connections, logger and consumer settings (`CONSUMER_MAX_DELIVERIES`, `CONSUMER_BACKOFF_MS`,
 * `CONSUMER_ACK_WAIT_MS`), counted and watched by one `consumerMetrics` on the service's
 * registry, and they start and stop together, in the order added.
 *
 * A module provides it (`{ provide: DurableConsumers, useValue: consumers }`), calls
 * `start()` from its bootstrap once the handlers have what they need (a key projection
 * loaded, today's usage partitions), and `stop()` from its shutdown, which lets each finish
 * the delivery in hand. Not lifecycle hooks of its own: Nest runs a provider's hooks before
 * its module's, too early for that order.
 */
export class DurableConsumers {
  /** What a consumer of this service is built with (`onDelivery` counts into the service's metrics). */
  readonly dependencies: DurableConsumerDependencies;
  /** The service's redelivery policy and ack wait. */
  readonly settings: ConsumerSettings;
  private readonly metrics: ConsumerMetrics;
  private readonly consumers: DurableConsumer<unknown>[] = [];

  constructor(private readonly context: Pick<ServiceContext, 'config' | 'logger' | 'infrastructure' | 'metrics'>) {
    const { config, logger, infrastructure } = context;
    this.metrics = consumerMetrics(context.metrics);
    const { nc, js, jsm, topology } = infrastructure;
    this.dependencies = { nc, js, jsm, topology, logger, onDelivery: this.metrics.onDelivery };
    this.settings = {
      redelivery: { maxDeliveries: config.CONSUMER_MAX_DELIVERIES, backoffMs: config.CONSUMER_BACKOFF_MS },
      ackWaitMs: config.CONSUMER_ACK_WAIT_MS,
    };
  }

  /** Adds a consumer built with `dependencies` and `settings`, and watches its backlog; returns it. */
  add<C extends DurableConsumer<unknown>>(consumer: C): C {
    this.metrics.watch(consumer);
    this.consumers.push(consumer);
    return consumer;
  }

  /** Adds a consumer feeding the projection from the event stream, each event in a transaction with its inbox row. */
  projection(projection: Projection, prefetch: number): DurableEventConsumer {
    const { db, auth } = this.context.infrastructure;
    return this.add(new DurableEventConsumer({ ...this.dependencies, dataSource: db, projection, auth }, { ...this.settings, prefetch }));
  }

  async start(): Promise<void> {
    for (const consumer of this.consumers) await consumer.start();
  }

  /** Stops each consumer; `abandon`: the batches still filling are given back unstored (`DurableConsumer.stop`). */
  async stop(options: { readonly abandon?: boolean } = {}): Promise<void> {
    for (const consumer of this.consumers) await consumer.stop(options);
  }
}
