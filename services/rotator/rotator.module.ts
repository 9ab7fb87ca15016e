import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { RotatorEnv } from '@keyledger/config';
import { DurableEventConsumer, consumerMetrics } from '@keyledger/consumer-runtime';
import { SealedKeyPublisher } from '@keyledger/key-delivery';
import {
  IncidentNotificationPublisher,
  IncidentResponder,
  IncidentResponseProjection,
  KeyManagement,
  ScheduledRotation,
  registerIncidentMetrics,
  registerRotationMetrics,
} from '@keyledger/key-management';
import { LiveKeyProjection, serviceKeyProjection } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { ServiceContext } from '@keyledger/service-kit';
import { HealthRegistry } from '@keyledger/service-kit';

/**
 * The rotator: rotates keys past their rotation policy's maximum age, and answers incidents
 * (leak reports, anomalies) by the tenant's incident policy. It keeps its own key projection
 * (which keys exist, their owner and state) and changes keys through the same KeyManagement as
 * the issuer, so a scheduled or incident rotation is exactly a RotateKey. Replicas need no
 * leader: optimistic concurrency on each key's stream lets one rotation per key through, and
 * the incidents come from one durable consumer (`rotator-incidents`) that the replicas share.
 */
@Module({})
export class RotatorModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(LiveKeyProjection) private readonly projection: LiveKeyProjection,
    @Inject(ScheduledRotation) private readonly rotation: ScheduledRotation,
    @Inject(DurableEventConsumer) private readonly incidents: DurableEventConsumer,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
  ) {}

  static forService({ config, logger, infrastructure, metrics }: ServiceContext<RotatorEnv>): DynamicModule {
    const { index, peppers, projection } = serviceKeyProjection('rotator', config, { infrastructure, logger, metrics }, { announce: false, snapshots: false });
    const hasher = new KeyHasher(peppers);
    const keys = new KeyManagement({
      store: infrastructure.store,
      hasher,
      index,
      rotationGraceMs: config.KEYLEDGER_ROTATION_GRACE_MS,
      systemActor: 'system:rotator',
      delivery: new SealedKeyPublisher(infrastructure.js, config.KEYLEDGER_SUBJECT_PREFIX),
    });
    const rotation = new ScheduledRotation(
      { keys, store: infrastructure.store, index, logger },
      { intervalMs: config.ROTATOR_INTERVAL_MS, jitterMs: config.ROTATOR_JITTER_MS },
    );
    registerRotationMetrics(metrics, rotation);
    const responder = new IncidentResponder({
      keys,
      store: infrastructure.store,
      notifications: new IncidentNotificationPublisher(infrastructure.js, config.KEYLEDGER_SUBJECT_PREFIX),
      logger,
    });
    registerIncidentMetrics(metrics, responder);
    const consumption = consumerMetrics(metrics);
    const incidents = new DurableEventConsumer(
      {
        dataSource: infrastructure.db,
        js: infrastructure.js,
        jsm: infrastructure.jsm,
        topology: infrastructure.topology,
        projection: new IncidentResponseProjection(responder),
        logger,
        onDelivery: consumption.onDelivery,
      },
      {
        redelivery: { maxDeliveries: config.CONSUMER_MAX_DELIVERIES, backoffMs: config.CONSUMER_BACKOFF_MS },
        ackWaitMs: config.CONSUMER_ACK_WAIT_MS,
        prefetch: 16,
      },
    );
    consumption.watch(incidents);
    return {
      module: RotatorModule,
      providers: [
        { provide: LiveKeyProjection, useValue: projection },
        { provide: ScheduledRotation, useValue: rotation },
        { provide: DurableEventConsumer, useValue: incidents },
      ],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.projection.start();
    this.health.register('key-projection', () => {
      const status = this.projection.status();
      return { healthy: status.loaded && !status.failingClosed, details: { ...status } };
    });
    this.rotation.start();
    await this.incidents.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.incidents.stop();
    await this.rotation.stop();
    await this.projection.stop();
  }
}
