import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { RotatorEnv } from '@keyledger/config';
import { SealedKeyPublisher } from '@keyledger/key-delivery';
import { KeyManagement, QuietGrace, ScheduledRotation, registerQuietGraceMetrics, registerRotationMetrics } from '@keyledger/key-management';
import { LiveKeyProjection, serviceKeyProjection } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { ServiceContext } from '@keyledger/service-kit';
import { HealthRegistry } from '@keyledger/service-kit';
import { AuditorLastUseClient } from '@keyledger/usage-reporting';

/**
 * The rotator: rotates keys past their rotation policy's maximum age, and ends the grace of old
 * keys that stayed unused for their quiet period (asking the auditor, which owns usage, for their
 * last use). It keeps its own key
 * projection (which keys exist, their owner and state) and rotates through the same
 * KeyManagement as the issuer, so a scheduled rotation is exactly a RotateKey. Replicas need
 * no leader: optimistic concurrency on each key's stream lets one rotation per key through.
 */
@Module({})
export class RotatorModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(LiveKeyProjection) private readonly projection: LiveKeyProjection,
    @Inject(ScheduledRotation) private readonly rotation: ScheduledRotation,
    @Inject(QuietGrace) private readonly quietGrace: QuietGrace,
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
    const quietGrace = new QuietGrace(
      { keys, index, usage: new AuditorLastUseClient(infrastructure.nc, config.KEYLEDGER_SUBJECT_PREFIX, config.ROTATOR_USAGE_TIMEOUT_MS), logger },
      { intervalMs: config.ROTATOR_INTERVAL_MS, usageLagMs: config.ROTATOR_USAGE_LAG_MS },
    );
    registerQuietGraceMetrics(metrics, quietGrace);
    return {
      module: RotatorModule,
      providers: [
        { provide: LiveKeyProjection, useValue: projection },
        { provide: ScheduledRotation, useValue: rotation },
        { provide: QuietGrace, useValue: quietGrace },
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
    this.quietGrace.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.quietGrace.stop();
    await this.rotation.stop();
    await this.projection.stop();
  }
}
