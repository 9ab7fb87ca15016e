import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { IssuerEnv } from '@keyledger/config';
import { DeliverySigner, SealedKeyPublisher } from '@keyledger/key-delivery';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { KeyCommands, RootKeyBootstrap, TenantKeyQuota } from '@keyledger/key-commands';
import { AnomalyAcknowledgements, IncidentReports, NetworkDenialCommands } from '@keyledger/key-incidents';
import { KeyDeliveries, KeyRotation } from '@keyledger/key-rotation';
import { LiveKeyProjection, serviceKeyProjection, VerifierFence } from '@keyledger/key-projection';
import { KeyHasher, WebhookSecrets } from '@keyledger/key-secrets';
import { PendingDeliveries } from '@keyledger/pending-deliveries';
import type { ServiceContext } from '@keyledger/service-kit';
import { HealthRegistry } from '@keyledger/service-kit';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import { IncidentsGrpcController } from './incidents.grpc-controller.js';
import { incidentsNatsController } from './incidents.nats-controller.js';
import { networksNatsController } from './networks.nats-controller.js';
import { anomaliesNatsController } from './anomalies.nats-controller.js';
import { KeysGrpcController } from './keys.grpc-controller.js';
import { keysNatsController } from './keys.nats-controller.js';
import { ownersNatsController } from './owners.nats-controller.js';
import { tenantsNatsController } from './tenants.nats-controller.js';
import { rotationPolicyNatsController } from './rotation-policy.nats-controller.js';

/**
 * The issuer: issues, updates, suspends, resumes and revokes keys over NATS (and gRPC), and
 * takes leak and anomaly reports (the rotator acts on them).
 * It keeps an in-memory key projection to authenticate admin keys and list keys, and a
 * fence that tracks what every verifier has applied, for revocations that wait.
 */
@Module({})
export class IssuerModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(LiveKeyProjection) private readonly projection: LiveKeyProjection,
    @Inject(VerifierFence) private readonly fence: VerifierFence,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
  ) {}

  static forService({ instance, config, logger, infrastructure, metrics }: ServiceContext<IssuerEnv>): DynamicModule {
    const { index, peppers, projection } = serviceKeyProjection(
      config,
      { instance, infrastructure, logger, metrics },
      { announce: false, snapshots: true, freshness: true },
    );
    const hasher = new KeyHasher(peppers);
    // A verifier cut off from NATS keeps answering until it turns stale (VERIFIER_MAX_STALENESS_MS
    // after the last relay heartbeat it applied, which came at most one announcement interval
    // before its last announcement): the fence forgets it only after that, plus a margin, so a
    // revocation never completes while a cut-off verifier may still answer VALID.
    const fence = new VerifierFence(
      infrastructure.nc,
      config.KEYLEDGER_SUBJECT_PREFIX,
      infrastructure.auth.authenticator,
      config.VERIFIER_MAX_STALENESS_MS + 1500,
    );
    const keyServices = {
      store: infrastructure.store,
      hasher,
      index,
      quota: new TenantKeyQuota(index, config.KEYLEDGER_TENANT_KEY_QUOTA),
      fence,
      fenceTimeoutMs: config.REVOCATION_FENCE_TIMEOUT_MS,
      rotationGraceMs: config.KEYLEDGER_ROTATION_GRACE_MS,
      // The issuer sends a rotated key once on NATS, signed as the rotator signs; the rotator sends it again until acknowledged.
      delivery: new KeyDeliveries(
        {
          store: infrastructure.store,
          pending: new PendingDeliveries(infrastructure.db),
          publisher: new SealedKeyPublisher(infrastructure.js, config.KEYLEDGER_SUBJECT_PREFIX, new DeliverySigner(config.KEYLEDGER_DELIVERY_SIGNING_KEYS)),
          logger,
        },
        { retry: { minMs: config.DELIVERY_RETRY_MIN_MS, maxMs: config.DELIVERY_RETRY_MAX_MS }, ttlMs: config.DELIVERY_TTL_MS },
      ),
      webhookSecrets: new WebhookSecrets(peppers),
    };
    return {
      module: IssuerModule,
      controllers: [
        keysNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        rotationPolicyNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        ownersNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        tenantsNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        KeysGrpcController,
        incidentsNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        networksNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        IncidentsGrpcController,
        anomaliesNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
      ],
      providers: [
        { provide: LiveKeyProjection, useValue: projection },
        { provide: VerifierFence, useValue: fence },
        { provide: KeyCommands, useValue: new KeyCommands(keyServices) },
        { provide: KeyRotation, useValue: new KeyRotation(keyServices) },
        { provide: TenantSettingsCommands, useValue: new TenantSettingsCommands(keyServices) },
        { provide: RootKeyBootstrap, useValue: new RootKeyBootstrap(keyServices) },
        { provide: AdminAuthenticator, useValue: new AdminAuthenticator(index, hasher, { projection }) },
        { provide: IncidentReports, useValue: new IncidentReports({ store: infrastructure.store, hasher, index }) },
        { provide: NetworkDenialCommands, useValue: new NetworkDenialCommands({ store: infrastructure.store, index }) },
        { provide: AnomalyAcknowledgements, useValue: new AnomalyAcknowledgements({ store: infrastructure.store }) },
      ],
      exports: [RootKeyBootstrap],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    this.fence.start();
    await this.projection.start();
    this.health.register('key-projection', () => this.projection.readiness());
  }

  async onApplicationShutdown(): Promise<void> {
    this.fence.stop();
    await this.projection.stop();
  }
}
