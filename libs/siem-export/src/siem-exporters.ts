import type { DataSource } from 'typeorm';
import type { SiemSinkSpec } from '@keyledger/config';
import type { PostgresEventStore } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { SiemDevice } from '@keyledger/siem-format';
import { LOG_AUDIT_FACILITY } from '@keyledger/siem-format';
import { SiemExportCheckpoints } from './siem-export-checkpoints.js';
import { SiemExporter } from './siem-exporter.js';
import { createSiemSink } from './sinks/create-sink.js';
import { StreamTenants } from './stream-tenants.js';

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

/** One exporter per configured sink, sharing the checkpoints table and the stream tenants. */
export function createSiemExporters(db: DataSource, store: PostgresEventStore, settings: SiemExportSettings, logger: Logger): SiemExporter[] {
  const checkpoints = new SiemExportCheckpoints(db);
  const tenants = new StreamTenants(store);
  const origin = { facility: LOG_AUDIT_FACILITY, hostname: settings.hostname, appName: 'keyledger-auditor', procId: settings.procId };
  return settings.sinks.map(
    (spec) =>
      new SiemExporter(store, checkpoints, tenants, createSiemSink(spec, origin, settings.webhookSecrets), { batchSize: settings.batchSize, retryMaxMs: settings.retryMaxMs, device: KEYLEDGER_SIEM_DEVICE }, logger),
  );
}
