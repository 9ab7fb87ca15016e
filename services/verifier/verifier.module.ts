import type { Server } from 'node:http';
import type { Subscription } from '@nats-io/transport-node';
import { Inject, Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { KeyServiceEnv } from '@keyledger/config';
import { apiSubject } from '@keyledger/contracts';
import type { IpRange } from '@keyledger/key-domain';
import { FailedVerifyThrottle } from '@keyledger/key-domain';
import {
  DEFAULT_CREDITS_FLUSH_MS,
  DEFAULT_RATE_LIMIT_SYNC,
  KeyLimits,
  KeyVerifier,
  LiveKeyProjection,
  RateLimitSync,
  registerKeyLimitsMetrics,
  registerRateLimitSyncMetrics,
  serviceKeyProjection,
  VerifierFence,
} from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { ServiceContext } from '@keyledger/service-kit';
import type { Logger } from '@keyledger/observability';
import { HealthRegistry, LOGGER } from '@keyledger/service-kit';
import type { UsageRecording } from '@keyledger/usage-recorder';
import { usageRecording } from '@keyledger/usage-recorder';
import { serveAuthorizeFirst } from './authorize.endpoint.js';
import { TRUSTED_PROXIES } from './trusted-proxies.js';
import { VerifyService } from './verify.service.js';
import { VerifyGrpcController } from './verify.grpc-controller.js';
import { serveVerifyBatchOverNats } from './verify-batch.nats-endpoint.js';
import { serveVerifyOverNats } from './verify.nats-endpoint.js';

/** Starts answering `keys.verify` and `keys.verify-batch` on the service's NATS connection. */
const NATS_VERIFY = Symbol('NATS_VERIFY');
interface NatsVerify {
  serve(verification: VerifyService): readonly Subscription[];
}

/** The verifier's usage recording, absent with USAGE_RECORDING=false. */
const USAGE = Symbol('USAGE');
interface Usage {
  readonly recording: UsageRecording | undefined;
}

/**
 * The verifier: answers verify requests from an in-memory projection of every key, over
 * NATS and HTTP, never touching Postgres on the hot path. Each replica holds the whole
 * projection and announces what it has applied, for revocation fences.
 */
@Module({})
export class VerifierModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private natsVerify: readonly Subscription[] = [];

  constructor(
    @Inject(LiveKeyProjection) private readonly projection: LiveKeyProjection,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(VerifyService) private readonly verification: VerifyService,
    @Inject(HttpAdapterHost) private readonly http: HttpAdapterHost,
    @Inject(USAGE) private readonly usage: Usage,
    @Inject(RateLimitSync) private readonly rateLimitSync: RateLimitSync,
    @Inject(KeyLimits) private readonly keyLimits: KeyLimits,
    @Inject(VerifierFence) private readonly fence: VerifierFence,
    @Inject(TRUSTED_PROXIES) private readonly trustedProxies: readonly IpRange[],
    @Inject(NATS_VERIFY) private readonly nats: NatsVerify,
  ) {}

  static forService({ instance, config, logger, infrastructure, metrics }: ServiceContext<KeyServiceEnv>): DynamicModule {
    const { index, peppers, projection } = serviceKeyProjection(
      config,
      { instance, infrastructure, logger, metrics },
      // How far behind the store this replica is, for keyledger_projection_behind_events: off the verify path.
      { announce: true, snapshots: true, freshness: true, lagProbeMs: 2000 },
    );
    const hasher = new KeyHasher(peppers);
    // Every verification becomes a KeyUsed record, published in batches off the verify path.
    const usage: Usage = {
      recording: config.USAGE_RECORDING
        ? usageRecording({
            js: infrastructure.js,
            topology: infrastructure.topology,
            authenticator: infrastructure.auth.authenticator,
            peppers,
            instance,
            metrics,
            logger,
            settings: {
              capacity: config.USAGE_BUFFER_RECORDS,
              batchRecords: config.USAGE_BATCH_RECORDS,
              flushIntervalMs: config.USAGE_FLUSH_INTERVAL_MS,
              unknownKeys: { sourcesPerMinute: config.USAGE_UNKNOWN_SOURCES_PER_MINUTE, fingerprintsPerSource: config.USAGE_UNKNOWN_FINGERPRINTS_PER_SOURCE },
            },
          })
        : undefined,
    };
    const rateLimitSync = new RateLimitSync(
      infrastructure.nc,
      { instanceId: instance, subjectPrefix: config.KEYLEDGER_SUBJECT_PREFIX, ...DEFAULT_RATE_LIMIT_SYNC },
      logger,
    );
    // Every verifier's applied position: flushed credits stop being counted once all have applied them.
    const fence = new VerifierFence(infrastructure.nc, config.KEYLEDGER_SUBJECT_PREFIX, infrastructure.auth.authenticator);
    const keyLimits = new KeyLimits(
      { sync: rateLimitSync, index, store: infrastructure.store, fence, logger, applied: () => projection.appliedPosition() },
      { instanceId: instance, flushEveryMs: DEFAULT_CREDITS_FLUSH_MS },
    );
    registerKeyLimitsMetrics(metrics, keyLimits);
    registerRateLimitSyncMetrics(metrics, rateLimitSync);
    return {
      module: VerifierModule,
      controllers: [VerifyGrpcController],
      providers: [
        { provide: LiveKeyProjection, useValue: projection },
        { provide: USAGE, useValue: usage },
        { provide: RateLimitSync, useValue: rateLimitSync },
        { provide: KeyLimits, useValue: keyLimits },
        { provide: VerifierFence, useValue: fence },
        { provide: TRUSTED_PROXIES, useValue: config.VERIFIER_TRUSTED_PROXIES },
        {
          provide: NATS_VERIFY,
          useValue: {
            serve: (verification) => [
              serveVerifyOverNats(infrastructure.nc, apiSubject(config.KEYLEDGER_SUBJECT_PREFIX, 'keys.verify'), verification, logger),
              serveVerifyBatchOverNats(infrastructure.nc, apiSubject(config.KEYLEDGER_SUBJECT_PREFIX, 'keys.verify-batch'), verification, logger),
            ],
          } satisfies NatsVerify,
        },
        {
          provide: VerifyService,
          useValue: new VerifyService(
            new KeyVerifier(index, hasher, { projection, limits: keyLimits, networkDenials: true }),
            metrics,
            Date.now,
            new FailedVerifyThrottle({
              limit: config.VERIFIER_FAILED_VERIFY_LIMIT,
              windowMs: config.VERIFIER_FAILED_VERIFY_WINDOW_MS,
              maxSources: config.VERIFIER_FAILED_VERIFY_SOURCES,
            }),
          ),
        },
      ],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.usage.recording) {
      this.verification.recordUsage(this.usage.recording.recorder);
      this.usage.recording.start();
    }
    serveAuthorizeFirst(this.http.httpAdapter.getHttpServer() as Server, this.verification, this.trustedProxies);
    this.natsVerify = this.nats.serve(this.verification);
    this.fence.start();
    await this.projection.start();
    // Only a loaded replica shares limits: a member that does not announce its position yet
    // would hold back every release of flushed credits for as long as it loads.
    this.rateLimitSync.start();
    this.keyLimits.start();
    // A verifier answers from memory: losing Postgres, or NATS for less than
    // VERIFIER_MAX_BUS_SILENCE_MS, leaves it serving (degraded); the key projection's own check
    // turns it not ready once it fails closed.
    this.health.reportOnly('postgres');
    this.health.reportOnly('nats');
    this.health.register('key-projection', () => this.projection.readiness());
  }

  async onApplicationShutdown(): Promise<void> {
    // Requests already received are answered (and recorded); no new one is taken.
    await Promise.all(this.natsVerify.map((subscription) => subscription.drain()));
    this.rateLimitSync.stop();
    // What this replica admitted goes into the store before it leaves: the balance survives the restart.
    await this.keyLimits.stop();
    this.fence.stop();
    await this.projection.stop();
    // The transports are closed by now: publish the last records before NATS drains.
    await this.usage.recording?.close();
  }
}
