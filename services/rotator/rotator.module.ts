import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { RotatorEnv } from '@keyledger/config';
import { DeliverySigner, SealedKeyPublisher, WebhookSender } from '@keyledger/key-delivery';
import { KeyCommands, TenantKeyQuota } from '@keyledger/key-commands';
import {
  IncidentNotificationPublisher,
  IncidentResponder,
  IncidentResponseProjection,
  NOTIFICATION_WEBHOOK_REDELIVERY,
  NotificationWebhookConsumer,
  registerIncidentMetrics,
  registerNotificationWebhookMetrics,
} from '@keyledger/key-incidents';
import {
  DeliveryRetries,
  KeyDeliveries,
  KeyRotation,
  QuietGrace,
  ScheduledRotation,
  registerDeliveryMetrics,
  registerQuietGraceMetrics,
  registerRotationMetrics,
} from '@keyledger/key-rotation';
import { LiveKeyProjection, serviceKeyProjection } from '@keyledger/key-projection';
import { KeyHasher, WebhookSecrets } from '@keyledger/key-secrets';
import { PendingDeliveries } from '@keyledger/pending-deliveries';
import type { ServiceContext } from '@keyledger/service-kit';
import { DurableConsumers, HealthRegistry } from '@keyledger/service-kit';
import { AuditorLastUseClient, registerLastUseClientMetrics } from '@keyledger/usage-reporting';
import { deliveryAckNatsController } from './delivery-ack.nats-controller.js';

/**
 * The rotator: rotates keys past their rotation policy's maximum age, delivers new keys to
 * their owners until acknowledged, answers incidents (leak reports, anomalies) by the tenant's
 * incident policy (POSTing every tenant notification to the tenant's webhook, if it registered one),
 * and ends the grace of old keys that stayed unused for their quiet period
 * (asking the auditor, which owns usage, for their last use). It keeps its own key projection
 * (which keys exist, their owner and state) and changes keys through the same KeyCommands and
 * KeyRotation as the issuer, so a scheduled or incident rotation is exactly a RotateKey. Replicas need no
 * leader: optimistic concurrency on each key's stream lets one rotation per key through,
 * pending deliveries are claimed with SKIP LOCKED, and the incidents come from one durable
 * consumer (`rotator-incidents`) that the replicas share.
 */
@Module({})
export class RotatorModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(LiveKeyProjection) private readonly projection: LiveKeyProjection,
    @Inject(ScheduledRotation) private readonly rotation: ScheduledRotation,
    @Inject(QuietGrace) private readonly quietGrace: QuietGrace,
    @Inject(DeliveryRetries) private readonly retries: DeliveryRetries,
    @Inject(DurableConsumers) private readonly consumers: DurableConsumers,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
  ) {}

  static forService({ instance, config, logger, infrastructure, metrics }: ServiceContext<RotatorEnv>): DynamicModule {
    const { index, peppers, projection } = serviceKeyProjection(
      config,
      { instance, infrastructure, logger, metrics },
      { announce: false, snapshots: false, freshness: false },
    );
    const hasher = new KeyHasher(peppers);
    const pending = new PendingDeliveries(infrastructure.db);
    const signer = new DeliverySigner(config.KEYLEDGER_DELIVERY_SIGNING_KEYS);
    // Public: what clients are given to check deliveries with (`keyledger deliveries public-key` prints the same).
    logger.info({ deliveryPublicKeys: signer.publicKeys() }, 'signing key deliveries');
    const publisher = new SealedKeyPublisher(infrastructure.js, config.KEYLEDGER_SUBJECT_PREFIX, signer);
    const deliveries = new KeyDeliveries(
      { store: infrastructure.store, pending, publisher, logger },
      { retry: { minMs: config.DELIVERY_RETRY_MIN_MS, maxMs: config.DELIVERY_RETRY_MAX_MS }, ttlMs: config.DELIVERY_TTL_MS },
    );
    const changes = {
      store: infrastructure.store,
      hasher,
      index,
      quota: new TenantKeyQuota(index, config.KEYLEDGER_TENANT_KEY_QUOTA),
      rotationGraceMs: config.KEYLEDGER_ROTATION_GRACE_MS,
      systemActor: 'system:rotator',
      delivery: deliveries,
    };
    const keys = new KeyCommands(changes);
    const keyRotation = new KeyRotation(changes);
    const rotation = new ScheduledRotation(
      { rotation: keyRotation, store: infrastructure.store, index, logger },
      { intervalMs: config.ROTATOR_INTERVAL_MS, jitterMs: config.ROTATOR_JITTER_MS },
    );
    const poster = new WebhookSender({
      timeoutMs: config.DELIVERY_WEBHOOK_TIMEOUT_MS,
      extraCa: config.KEYLEDGER_WEBHOOK_CA_FILE?.pem,
      userAgent: 'keyledger-rotator',
      allowPrivateAddresses: config.DELIVERY_WEBHOOK_ALLOW_PRIVATE,
    });
    const webhookSecrets = new WebhookSecrets(peppers);
    const retries = new DeliveryRetries(
      { deliveries, pending, store: infrastructure.store, publisher, webhooks: { poster, secrets: webhookSecrets }, logger },
      { intervalMs: config.DELIVERY_POLL_INTERVAL_MS, batchSize: config.DELIVERY_BATCH_SIZE, concurrency: config.DELIVERY_CONCURRENCY },
    );
    registerRotationMetrics(metrics, rotation);
    const usage = new AuditorLastUseClient(
      { nc: infrastructure.nc, prefix: config.KEYLEDGER_SUBJECT_PREFIX, authenticator: infrastructure.auth.authenticator, logger },
      config.ROTATOR_USAGE_TIMEOUT_MS,
    );
    const quietGrace = new QuietGrace({ keys, index, usage, logger }, { intervalMs: config.ROTATOR_INTERVAL_MS, usageLagMs: config.ROTATOR_USAGE_LAG_MS });
    registerQuietGraceMetrics(metrics, quietGrace);
    registerLastUseClientMetrics(metrics, usage);
    registerDeliveryMetrics(metrics, deliveries, retries);
    const responder = new IncidentResponder({
      keys,
      rotation: keyRotation,
      store: infrastructure.store,
      notifications: new IncidentNotificationPublisher(infrastructure.js, config.KEYLEDGER_SUBJECT_PREFIX, infrastructure.auth.authenticator),
      logger,
    });
    registerIncidentMetrics(metrics, responder);
    const consumers = new DurableConsumers({ config, logger, infrastructure, metrics });
    consumers.projection(new IncidentResponseProjection(responder), 16);
    const notificationWebhooks = consumers.add(
      new NotificationWebhookConsumer(
        { ...consumers.dependencies, store: infrastructure.store, poster, secrets: webhookSecrets, auth: infrastructure.auth },
        { ...consumers.settings, redelivery: NOTIFICATION_WEBHOOK_REDELIVERY },
      ),
    );
    registerNotificationWebhookMetrics(metrics, notificationWebhooks);
    return {
      module: RotatorModule,
      controllers: [deliveryAckNatsController(config.KEYLEDGER_SUBJECT_PREFIX)],
      providers: [
        { provide: LiveKeyProjection, useValue: projection },
        { provide: ScheduledRotation, useValue: rotation },
        { provide: QuietGrace, useValue: quietGrace },
        { provide: KeyDeliveries, useValue: deliveries },
        { provide: DeliveryRetries, useValue: retries },
        { provide: DurableConsumers, useValue: consumers },
      ],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.projection.start();
    this.health.register('key-projection', () => this.projection.readiness());
    this.rotation.start();
    this.quietGrace.start();
    this.retries.start();
    await this.consumers.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumers.stop();
    await this.quietGrace.stop();
    await this.retries.stop();
    await this.rotation.stop();
    await this.projection.stop();
  }
}
