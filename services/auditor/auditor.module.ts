import { hostname } from 'node:os';
import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { AuditorEnv } from '@keyledger/config';
import { DURABLE_CONSUMER_NAMES, auditCheckpointsSubject } from '@keyledger/contracts';
import { AuditTrailPartitions, AuditTrailProjection } from '@keyledger/audit-trail';
import { AdminAuthenticator } from '@keyledger/admin-auth';
import { EventAuthenticator } from '@keyledger/event-auth';
import { LiveKeyProjection, serviceKeyProjection } from '@keyledger/key-projection';
import { AnomalyFindings, AuditSearch, KeyHistory } from '@keyledger/key-history';
import { KeyHasher } from '@keyledger/key-secrets';
import type { Logger } from '@keyledger/observability';
import { scrapedCounter } from '@keyledger/observability';
import type { ServiceContext } from '@keyledger/service-kit';
import { DurableConsumers, HealthRegistry, LOGGER, PeriodicTask } from '@keyledger/service-kit';
import { RetentionPutOffError, UsageConsumer, UsageLedger } from '@keyledger/usage-ledger';
import { PermissionReport, UsageQueries } from '@keyledger/usage-reporting';
import { AuditLog, NoteSigner, PostgresTransparencyLog, TreeGrowthSchedule, WitnessCosigning } from '@keyledger/transparency-log';
import type { SiemExports } from '@keyledger/siem-export';
import { createSiemExporters, registerSiemExportMetrics } from '@keyledger/siem-export';
import { SecurityAlertConsumer, SecurityAlertLog } from '@keyledger/security-alerts';
import { UsageGrpcController } from './usage.grpc-controller.js';
import { AuditGrpcController } from './audit.grpc-controller.js';
import { usageNatsController } from './usage.nats-controller.js';
import { auditLogNatsController } from './audit-log.nats-controller.js';
import { AuditLogHttpController } from './audit-log.http-controller.js';
import { auditWitnessEndpoints } from './audit-witnesses.js';
import { keyHistoryNatsController } from './key-history.nats-controller.js';
import { permissionReportNatsController } from './permission-report.nats-controller.js';
import { anomaliesNatsController } from './anomalies.nats-controller.js';

const DAY = 86_400_000;
const PARTITION_CHECK_MS = 3_600_000;

interface PartitionSettings {
  readonly aheadDays: number;
  readonly retentionDays: number;
}

interface AuditLogSettings {
  readonly treeIntervalMs: number;
  readonly checkpointIntervalMs: number;
}

/**
 * The auditor: keeps the audit trail (every event of the store, in order, with actor,
 * correlation, trace and tenant; partitioned by month and kept forever), stores the usage stream in the usage
 * ledger (Postgres, partitioned by day), keeps the partitions of both ahead, drops usage's past retention (never
 * the trail's), and answers usage queries over
 * NATS and gRPC. Admin keys are authenticated against its own in-memory key projection, as
 * the issuer does. It keeps the transparency log: a Merkle tree over the store's events, grown
 * every AUDIT_TREE_INTERVAL_MS, a checkpoint signed under KEYLEDGER_AUDIT_SIGNING_KEY every
 * AUDIT_CHECKPOINT_INTERVAL_MS when it grew (and on demand), published on
 * `<prefix>.v1.audit.checkpoints`, with proofs over NATS, gRPC and HTTP. It answers admins' questions
 * about a key's past: its trail, its state and the verdict its rules gave at any instant; and
 * the permission audit of a tenant's keys (unused keys and scopes, missing restrictions, overdue rotations);
 * over NATS and gRPC (keyledger.v1.AuditService). It asks the witnesses of AUDIT_WITNESSES to cosign each
 * checkpoint. It keeps the services' security alerts (from the notification stream, through a durable consumer)
 * and exports the trail, the alerts and, to sinks that ask, the verifications to each SIEM sink of
 * AUDIT_EXPORT_SINKS, at least once, from a checkpoint per sink and source.
 */
@Module({})
export class AuditorModule implements OnApplicationBootstrap, OnApplicationShutdown {
  /** A pass starts only after the previous one ends, and shutdown waits for it. */
  private readonly partitionMaintenance = new PeriodicTask(
    () => this.maintainPartitions(),
    PARTITION_CHECK_MS,
    (error) => this.logger.warn({ err: error }, 'usage partition maintenance failed'),
  );
  /** Apart from usage's, so that a failure of one does not hold back the other. */
  private readonly trailPartitionMaintenance = new PeriodicTask(
    () => this.maintainTrailPartitions(),
    PARTITION_CHECK_MS,
    (error) => this.logger.warn({ err: error }, 'audit trail partition maintenance failed'),
  );
  private readonly usageAggregation: PeriodicTask;
  private readonly treeGrowth: PeriodicTask;
  private readonly treeGrowthSchedule = new TreeGrowthSchedule();
  private readonly checkpointSigning: PeriodicTask;
  private readonly siemExports: readonly PeriodicTask[];

  constructor(
    @Inject(LiveKeyProjection) private readonly projection: LiveKeyProjection,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(AuditTrailPartitions) private readonly trailPartitions: AuditTrailPartitions,
    @Inject(DurableConsumers) private readonly consumers: DurableConsumers,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject('PARTITIONS') private readonly partitions: PartitionSettings,
    @Inject(AuditLog) private readonly auditLog: AuditLog,
    @Inject('AUDIT_LOG') auditSettings: AuditLogSettings,
    @Inject('SIEM_EXPORTS') private readonly siem: SiemExports,
    @Inject('SIEM_EXPORT_POLL_MS') siemExportPollMs: number,
    @Inject('USAGE_AGGREGATE_EVERY_MS') usageAggregateEveryMs: number,
  ) {
    // Another auditor's fold running: this pass skips, the next one takes what is left.
    this.usageAggregation = new PeriodicTask(
      () => this.ledger.aggregatePending(false),
      usageAggregateEveryMs,
      (error) => this.logger.warn({ err: error }, 'folding stored usage into the aggregates failed; the batches stay pending for the next pass'),
    );
    // Each sink and source on its own: a sink that is down holds back only its own exports.
    this.siemExports = siem.exporters.map(
      (exporter) =>
        new PeriodicTask(
          () => exporter.exportPending(),
          siemExportPollMs,
          (error) =>
            this.logger.error(
              { err: error, sink: exporter.sink.name, source: exporter.source },
              'SIEM export pass failed; it starts again from the checkpoint',
            ),
        ),
    );
    this.treeGrowth = new PeriodicTask(
      () => this.growTree(),
      auditSettings.treeIntervalMs,
      (error) => this.logger.warn({ err: error }, 'growing the transparency log failed'),
    );
    // A refusal to sign (InconsistentTreeError) is an error: the stored tree was changed behind the auditor's back.
    this.checkpointSigning = new PeriodicTask(
      () => this.signAndCosign(),
      auditSettings.checkpointIntervalMs,
      (error) => this.logger.error({ err: error }, 'signing a transparency log checkpoint failed'),
    );
  }

  static forService({ instance, config, logger, infrastructure, metrics }: ServiceContext<AuditorEnv>): DynamicModule {
    const { index, peppers, projection } = serviceKeyProjection(
      config,
      { instance, infrastructure, logger, metrics },
      // Fresh by the relay's heartbeats, as the issuer's: it authenticates admin keys, and a state
      // that misses a revocation (held back, or a lagging replica) must not let the revoked key in.
      { announce: false, snapshots: true, freshness: true },
    );
    const ledger = new UsageLedger(infrastructure.db);
    scrapedCounter(
      metrics,
      'keyledger_usage_folded_records_total',
      'Stored verifications this auditor folded into the usage aggregates',
      () => ledger.foldedRecords,
    );
    scrapedCounter(
      metrics,
      'keyledger_usage_fold_failures_total',
      'Folds of stored verifications into the usage aggregates that failed (by a timer or a query); their batches stay pending',
      () => ledger.foldFailures,
    );
    scrapedCounter(
      metrics,
      'keyledger_usage_deadlock_retries_total',
      'Usage stores, folds and partition changes Postgres rolled back to break a deadlock, run again',
      () => ledger.deadlockRetries,
    );
    const consumers = new DurableConsumers({ config, logger, infrastructure, metrics });
    const usage = consumers.add(
      new UsageConsumer(
        { ...consumers.dependencies, ledger, auth: infrastructure.auth },
        {
          ...consumers.settings,
          name: DURABLE_CONSUMER_NAMES.auditorUsage,
          batchesPerIngest: config.USAGE_INGEST_BATCHES,
          ingestWaitMs: config.USAGE_INGEST_WAIT_MS,
        },
      ),
    );
    // The services' security alerts, kept in Postgres (the stream keeps them a week) for the SIEM export.
    consumers.add(
      new SecurityAlertConsumer(
        { ...consumers.dependencies, log: new SecurityAlertLog(infrastructure.db, infrastructure.auth.authenticator), auth: infrastructure.auth },
        { ...consumers.settings, alertsPerStore: 64 },
      ),
    );
    // The audit trail: every event of the store, applied once, through a durable consumer.
    consumers.projection(new AuditTrailProjection(), 64);
    const checkpoints = auditCheckpointsSubject(config.KEYLEDGER_SUBJECT_PREFIX);
    const transparencyLog = new PostgresTransparencyLog(infrastructure.db, infrastructure.store, NoteSigner.fromPrivateKey(config.KEYLEDGER_AUDIT_SIGNING_KEY));
    const witnesses = auditWitnessEndpoints(config);
    const auditLog = new AuditLog(
      transparencyLog,
      (note) => infrastructure.nc.publish(checkpoints, note),
      witnesses.length > 0 ? new WitnessCosigning(infrastructure.db, transparencyLog, witnesses) : undefined,
    );
    const siem = createSiemExporters(
      infrastructure.db,
      infrastructure.store,
      infrastructure.auth.authenticator,
      {
        sinks: config.AUDIT_EXPORT_SINKS,
        batchSize: config.AUDIT_EXPORT_BATCH,
        retryMaxMs: config.AUDIT_EXPORT_RETRY_MAX_MS,
        hostname: hostname(),
        procId: instance,
        webhookSecrets: config.AUDIT_EXPORT_WEBHOOK_SECRETS,
      },
      logger,
    );
    registerSiemExportMetrics(metrics, siem);
    return {
      module: AuditorModule,
      controllers: [
        usageNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        UsageGrpcController,
        auditLogNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        AuditLogHttpController,
        keyHistoryNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        permissionReportNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
        AuditGrpcController,
        anomaliesNatsController(config.KEYLEDGER_SUBJECT_PREFIX),
      ],
      providers: [
        { provide: LiveKeyProjection, useValue: projection },
        { provide: UsageLedger, useValue: ledger },
        { provide: AuditTrailPartitions, useValue: new AuditTrailPartitions(infrastructure.db) },
        { provide: DurableConsumers, useValue: consumers },
        { provide: UsageQueries, useValue: new UsageQueries(ledger, index, Date.now, { ingestedUntil: () => usage.ingestedUntil() }) },
        { provide: AdminAuthenticator, useValue: new AdminAuthenticator(index, new KeyHasher(peppers), { projection }) },
        // Seals the answers to usage.last-used, which the rotator ends graces on.
        { provide: EventAuthenticator, useValue: infrastructure.auth.authenticator },
        {
          provide: 'PARTITIONS',
          useValue: { aheadDays: config.USAGE_PARTITIONS_AHEAD_DAYS, retentionDays: config.USAGE_RETENTION_DAYS } satisfies PartitionSettings,
        },
        { provide: AuditLog, useValue: auditLog },
        // A key's trail and past states, read from its stream (MACs checked) rather than the trail table.
        { provide: KeyHistory, useValue: new KeyHistory(infrastructure.store) },
        { provide: AuditSearch, useValue: new AuditSearch(infrastructure.db, infrastructure.store) },
        // Anomaly findings: the trail finds them, their key streams (MACs checked) say what they are and what followed.
        { provide: AnomalyFindings, useValue: new AnomalyFindings(infrastructure.db, infrastructure.store) },
        // The permission audit: the projection's keys, their usage, and the store for policies and changed keys' histories.
        { provide: PermissionReport, useValue: new PermissionReport(ledger, index, infrastructure.store, { retentionDays: config.USAGE_RETENTION_DAYS }) },
        {
          provide: 'AUDIT_LOG',
          useValue: { treeIntervalMs: config.AUDIT_TREE_INTERVAL_MS, checkpointIntervalMs: config.AUDIT_CHECKPOINT_INTERVAL_MS } satisfies AuditLogSettings,
        },
        { provide: 'SIEM_EXPORTS', useValue: siem },
        { provide: 'SIEM_EXPORT_POLL_MS', useValue: config.AUDIT_EXPORT_POLL_MS },
        { provide: 'USAGE_AGGREGATE_EVERY_MS', useValue: config.USAGE_AGGREGATE_EVERY_MS },
      ],
    };
  }

  /**
   * Grows the tree once this auditor has seen the store move past it (or after a long quiet),
   * timed by the monotonic clock: a wall clock set back would stretch the quiet.
   */
  private async growTree(): Promise<void> {
    if (!this.treeGrowthSchedule.due(this.projection.appliedPosition(), performance.now())) return;
    const { end } = await this.auditLog.grow();
    this.treeGrowthSchedule.passed(end, performance.now());
  }

  /** Signs a checkpoint when the tree grew, then asks the witnesses that have not cosigned the latest (again, while one is down). */
  private async signAndCosign(): Promise<void> {
    await this.auditLog.sign();
    for (const outcome of await this.auditLog.gatherCosignatures()) {
      if (outcome.outcome === 'cosigned') this.logger.info(outcome, 'a witness cosigned the checkpoint');
      else if (outcome.outcome !== 'held') this.logger.warn(outcome, 'a witness did not cosign the checkpoint; asking again at the next checkpoint interval');
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.maintainPartitions();
    this.partitionMaintenance.start();
    await this.maintainTrailPartitions();
    this.trailPartitionMaintenance.start();
    await this.projection.start();
    await this.consumers.start();
    this.usageAggregation.start();
    this.health.register('key-projection', () => this.projection.readiness());
    // The first checkpoint at once (the tree of the whole store, on a first start), then on the interval.
    this.checkpointSigning.start(0);
    this.treeGrowth.start();
    for (const task of this.siemExports) task.start(0);
  }

  async onApplicationShutdown(): Promise<void> {
    // A batch being written to a sink that is down is abandoned: its checkpoint stays, so it is written again on start.
    for (const exporter of this.siem.exporters) exporter.stop();
    await Promise.all(this.siemExports.map((task) => task.stop()));
    await Promise.all(this.siem.exporters.map((exporter) => exporter.close()));
    await this.checkpointSigning.stop();
    await this.treeGrowth.stop();
    await this.usageAggregation.stop();
    await this.partitionMaintenance.stop();
    await this.trailPartitionMaintenance.stop();
    await this.consumers.stop();
    await this.projection.stop();
  }

  /** Today's partitions and those of the days ahead; retention drops whole days past it. */
  private async maintainPartitions(): Promise<void> {
    const today = Math.floor(Date.now() / DAY) * DAY;
    await this.ledger.ensurePartitions(Array.from({ length: this.partitions.aheadDays + 1 }, (_, i) => today + i * DAY));
    const before = today - this.partitions.retentionDays * DAY;
    // What is about to be dropped is first in each key's last use, which outlives retention.
    await this.ledger.aggregatePending();
    await this.siem.usageRetention.beforeDrop(before);
    let dropped: number;
    try {
      dropped = await this.ledger.dropPartitionsBefore(before);
    } catch (error) {
      // A query held a usage table past the drop's lock wait: the next pass drops the days.
      if (!(error instanceof RetentionPutOffError)) throw error;
      this.logger.warn({ err: error }, 'usage retention put off to the next partition check');
      return;
    }
    if (dropped > 0) this.logger.info({ dropped, retentionDays: this.partitions.retentionDays }, 'usage partitions past retention dropped');
  }

  /** This month's and the next month's trail partitions, and those of months whose rows wait in the default partition. */
  private async maintainTrailPartitions(): Promise<void> {
    const created = await this.trailPartitions.ensure(Date.now());
    if (created > 0) this.logger.info({ created }, 'audit trail partitions created');
  }
}
