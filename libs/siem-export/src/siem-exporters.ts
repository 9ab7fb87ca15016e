import type { EventAuthenticator } from '@keyledger/event-auth';
import type { DataSource } from 'typeorm';
import type { SiemSinkSpec } from '@keyledger/config';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import { SecurityAlertLog } from '@keyledger/security-alerts';
import type { SiemDevice } from '@keyledger/siem-format';
import { LOG_AUDIT_FACILITY } from '@keyledger/siem-format';
import { UsageExportReader } from '@keyledger/usage-ledger';
import { SiemExportCheckpoints } from './siem-export-checkpoints.js';
import { SiemExporter } from './siem-exporter.js';
import { SiemSourceCheckpoints } from './siem-source-checkpoints.js';
import { SiemSourceExporter } from './siem-source-exporter.js';
import { AlertSource, UsageSource } from './siem-sources.js';
import { createSiemSink } from './sinks/create-sink.js';
import { SerializedSink } from './sinks/serialized-sink.js';
import { StreamTenants } from './stream-tenants.js';
import { UsageRetentionCheck } from './usage-retention-check.js';

/** Keyledger as CEF and OCSF name the product reporting. */
export const KEYLEDGER_SIEM_DEVICE: SiemDevice = { vendor: 'Keyledger', product: 'Keyledger', version: '0.1.0' };

export interface SiemExportSettings {
  readonly sinks: readonly SiemSinkSpec[];
  readonly batchSize: number;
  readonly retryMaxMs: number;
  /** The syslog HOSTNAME and PROCID: the machine and process that send. */
  readonly hostname: string;
  readonly procId: string;
  /** What webhook sinks sign each batch with, current first. */
  readonly webhookSecrets: readonly string[];
}

/** One export of one source to one sink. */
export type SiemExport = SiemExporter | SiemSourceExporter;

export interface SiemExports {
  /** Per sink: its audit events, its security alerts, and its verifications when it asked for them. */
  readonly exporters: readonly SiemExport[];
  /** Says what usage retention drops before a sink exported it. */
  readonly usageRetention: UsageRetentionCheck;
}

/**
 * The exports of every configured sink, each source on its own checkpoint: the store's events,
 * the security alerts, and (`?usage=true`) the verifications. The exports of one sink share it
 * (SerializedSink: one write at a time), so one that is down holds back only its own exports.
 */
export function createSiemExporters(
  db: DataSource,
  store: PostgresEventStore,
  authenticator: Pick<EventAuthenticator, 'checkSecurityAlert'>,
  settings: SiemExportSettings,
  logger: Logger,
): SiemExports {
  const checkpoints = new SiemExportCheckpoints(db);
  const sourceCheckpoints = new SiemSourceCheckpoints(db);
  const tenants = new StreamTenants(store);
  const alerts = new AlertSource(new SecurityAlertLog(db, authenticator));
  const usageReader = new UsageExportReader(db);
  const usage = new UsageSource(usageReader);
  const origin = { facility: LOG_AUDIT_FACILITY, hostname: settings.hostname, appName: 'keyledger-auditor', procId: settings.procId };
  const exporterSettings = { batchSize: settings.batchSize, retryMaxMs: settings.retryMaxMs, device: KEYLEDGER_SIEM_DEVICE };
  const exporters = settings.sinks.flatMap((spec): SiemExport[] => {
    const sink = new SerializedSink(createSiemSink(spec, origin, settings.webhookSecrets));
    return [
      new SiemExporter(store, checkpoints, tenants, sink, exporterSettings, logger),
      new SiemSourceExporter(alerts, sourceCheckpoints, sink, exporterSettings, logger),
      ...(spec.usage ? [new SiemSourceExporter(usage, sourceCheckpoints, sink, exporterSettings, logger)] : []),
    ];
  });
  const usageExporters = exporters.filter((exporter): exporter is SiemSourceExporter => exporter.source === 'usage');
  return { exporters, usageRetention: new UsageRetentionCheck(usageReader, usageExporters, logger) };
}
