import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AnomalyDetector } from '@keyledger/anomaly-detection';
import { AnomalyConsumer, AnomalyMemory, AnomalyWatch, DetectorLock, TenantThresholdsFeed } from '@keyledger/anomaly-watch';
import { IncidentNotificationPublisher, recordAnomaly, respondToEnumeration } from '@keyledger/key-incidents';
import type { Logger } from '@keyledger/observability';
import type { AnomalyDetectorEnv } from '@keyledger/config';
import type { ServiceContext } from '@keyledger/service-kit';
import { DurableConsumers, HealthRegistry, LOGGER, PeriodicTask } from '@keyledger/service-kit';
import { anomalySettingsOf } from './anomaly-settings.config.js';

const LOCK_CHECK_MS = 2000;
const BATCH_RETENTION_MS = 86_400_000;
const ACTOR = 'system:anomaly-detector';

interface Detection {
  readonly lock: DetectorLock;
  readonly watch: AnomalyWatch;
  readonly memory: AnomalyMemory;
  readonly detector: AnomalyDetector;
  readonly thresholds: TenantThresholdsFeed;
}

/**
 * The anomaly detector: one replica at a time (DetectorLock) consumes the usage stream through
 * the detectors of libs/anomaly-detection, keeps each key's baseline in Postgres, and records
 * what it finds: AnomalyDetected on the key's stream (the rotator applies the tenant's incident
 * policy), a source network's enumeration in anomaly_source_findings and as SourceAnomalyDetected
 * on the network's stream, and, where the tenant's incident policy says `onEnumeration: deny`,
 * SourceNetworkDenied there; the tenant is told on its notification subject.
 * A tenant's own thresholds (AnomalyThresholdsSet) are read from the store before it consumes
 * and at every lock check after, so a change applies within seconds.
 */
@Module({})
export class AnomalyDetectorModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private consuming = false;
  private readonly leadership = new PeriodicTask(
    () => this.lead(),
    LOCK_CHECK_MS,
    (error) => this.logger.warn({ err: error }, 'taking the anomaly detector lock failed; will try again'),
  );

  constructor(
    @Inject(DurableConsumers) private readonly consumers: DurableConsumers,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject('DETECTION') private readonly detection: Detection,
  ) {}

  static forService({ config, logger, infrastructure, metrics }: ServiceContext<AnomalyDetectorEnv>): DynamicModule {
    const { store, db } = infrastructure;
    const detector = new AnomalyDetector(Date.now, anomalySettingsOf(config), config.ANOMALY_NETWORK_TABLE);
    if (config.ANOMALY_NETWORK_TABLE)
      logger.info({ ranges: config.ANOMALY_NETWORK_TABLE.size }, 'new-network judges keys by the named networks of ANOMALY_NETWORK_TABLE');
    const memory = new AnomalyMemory(db);
    const lock = new DetectorLock(db, config.DATABASE_SCHEMA);
    const enumerations = {
      store,
      notifications: new IncidentNotificationPublisher(infrastructure.js, config.KEYLEDGER_SUBJECT_PREFIX, infrastructure.auth.authenticator),
    };
    const watch = new AnomalyWatch({
      detector,
      memory,
      logger,
      // Checked before each save, not only every LOCK_CHECK_MS: a window lasts longer than that.
      stillLeading: () => lock.stillHeld(),
      auth: infrastructure.auth,
      recordKeyAnomaly: async (anomaly, eventId) => {
        await recordAnomaly(store, anomaly, { actor: ACTOR, correlationId: eventId, causationId: eventId }, { eventId });
      },
      respondToSourceFinding: async (finding, findingId) => {
        if (finding.detector !== 'enumeration' || finding.subject.kind !== 'source') return;
        const { network, tenant } = finding.subject;
        // The finding's own time, not the clock: a redelivered batch must append the very same denial.
        const denial = await respondToEnumeration(
          enumerations,
          { findingId, network, tenant, severity: finding.severity, detail: finding.detail },
          finding.at,
          { actor: ACTOR, correlationId: findingId, causationId: findingId },
        );
        if (denial)
          logger.warn({ findingId, network: denial.network, tenant: denial.tenant, until: denial.until }, 'source network denied by the incident policy');
      },
    });
    const consumers = new DurableConsumers({ config, logger, infrastructure, metrics });
    consumers.add(
      new AnomalyConsumer(consumers.dependencies, watch, {
        ...consumers.settings,
        batchesPerSave: config.ANOMALY_BATCHES_PER_SAVE,
        saveWaitMs: config.ANOMALY_SAVE_WAIT_MS,
      }),
    );
    return {
      module: AnomalyDetectorModule,
      providers: [
        { provide: DurableConsumers, useValue: consumers },
        {
          provide: 'DETECTION',
          useValue: {
            lock,
            watch,
            memory,
            detector,
            thresholds: new TenantThresholdsFeed(store, detector),
          } satisfies Detection,
        },
      ],
    };
  }

  onApplicationBootstrap(): void {
    this.health.register('anomaly-detection', () => ({
      healthy: true,
      details: { role: this.consuming ? 'detecting' : 'standby', trackedKeys: this.detection.detector.trackedKeys, ...this.detection.detector.stats },
    }));
    this.leadership.start(0);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.leadership.stop();
    if (this.consuming) await this.consumers.stop();
    await this.detection.lock.release();
  }

  private async applyThresholds(): Promise<void> {
    const applied = await this.detection.thresholds.catchUp();
    if (applied > 0) this.logger.info({ applied }, 'tenant anomaly thresholds applied');
  }

  /** The lock holder consumes; a replica that lost its lock's session stops, and the next holder reads the baselines saved. */
  private async lead(): Promise<void> {
    const { lock, watch, memory } = this.detection;
    if (this.consuming) {
      if (await lock.stillHeld()) {
        await memory.forgetBatchesBefore(new Date(Date.now() - BATCH_RETENTION_MS));
        await this.applyThresholds();
        return;
      }
      this.logger.warn('the anomaly detector lock was lost; standing by');
      this.consuming = false;
      // The next holder learns the batches this one has not saved: saving them now would mark
      // them learned under that holder's feet.
      await this.consumers.stop({ abandon: true });
      return;
    }
    if (!(await lock.tryTake())) return;
    // Before the baselines: a tenant's rate window decides whether its keys' stored rates still hold.
    await this.applyThresholds();
    const keys = await watch.load();
    await this.consumers.start();
    this.consuming = true;
    this.logger.info({ keys }, 'anomaly detection started with the baselines stored');
  }
}
