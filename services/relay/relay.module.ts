import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { OutboxRelay, RelayHeartbeatPublisher, createOutboxRelay, relayMetrics } from '@keyledger/outbox-relay';
import type { ServiceContext } from '@keyledger/service-kit';
import { HealthRegistry } from '@keyledger/service-kit';

function createRelay({ config, logger, infrastructure, metrics }: ServiceContext): OutboxRelay {
  const observed = relayMetrics(metrics);
  const relay = createOutboxRelay({
    onPublished: observed.onPublished,
    ...infrastructure,
    databaseUrl: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    logger,
    settings: { batchSize: config.RELAY_BATCH_SIZE, pollIntervalMs: config.RELAY_POLL_INTERVAL_MS, standbyRetryMs: config.RELAY_STANDBY_RETRY_MS },
    lease: { ttlMs: config.RELAY_LEASE_TTL_MS, renewIntervalMs: config.RELAY_LEASE_RENEW_MS },
  });
  observed.watch(relay);
  return relay;
}

/**
 * The outbox relay: publishes every committed event to JetStream. Run two or more replicas;
 * one leads under a lease, the others stand by and take over within RELAY_STANDBY_RETRY_MS of
 * its death, or within RELAY_LEASE_TTL_MS + RELAY_STANDBY_RETRY_MS of its last renewal when it stalls.
 * The leader also announces the store's head every second (RelayHeartbeatPublisher), by which
 * key projections judge their freshness; the same read tells the relay of any event whose
 * notification it missed.
 */
@Module({})
export class RelayModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    @Inject(RelayHeartbeatPublisher) private readonly heartbeat: RelayHeartbeatPublisher,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
  ) {}

  static forService(context: ServiceContext): DynamicModule {
    const relay = createRelay(context);
    const heartbeat = new RelayHeartbeatPublisher({
      ...context.infrastructure,
      logger: context.logger,
      isLeader: () => relay.status().leader,
      onHead: (head) => relay.noteStoreHead(head),
    });
    return {
      module: RelayModule,
      providers: [
        { provide: OutboxRelay, useValue: relay },
        { provide: RelayHeartbeatPublisher, useValue: heartbeat },
      ],
    };
  }

  onApplicationBootstrap(): void {
    // A standby is healthy: it is ready to lead. A leader failing round after round (an
    // event it cannot publish, NATS refusing) is not. The details say which one leads.
    this.health.register('relay', () => {
      const status = this.relay.status();
      return { healthy: status.consecutiveFailures < 10, details: { ...status } };
    });
    this.relay.start();
    this.heartbeat.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.heartbeat.stop();
    await this.relay.stop();
  }
}
