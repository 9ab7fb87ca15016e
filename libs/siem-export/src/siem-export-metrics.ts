import { Gauge } from 'prom-client';
import type { Registry } from '@keyledger/observability';
import { scrapedLabelledCounter } from '@keyledger/observability';
import type { SiemExporter } from './siem-exporter.js';

/** Each sink's lag, records exported and failed writes, on the service's registry. */
export function registerSiemExportMetrics(registry: Registry, exporters: readonly SiemExporter[]): void {
  new Gauge({
    name: 'keyledger_siem_export_lag_seconds',
    help: 'Age of the oldest audit event read for a SIEM sink and not yet acknowledged by it; 0 when caught up',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      for (const exporter of exporters) this.set({ sink: exporter.sink.name }, exporter.lagSeconds());
    },
  });
  scrapedLabelledCounter(registry, 'keyledger_siem_export_records_total', 'Audit records a SIEM sink acknowledged', ['sink'], () =>
    exporters.map((exporter) => [{ sink: exporter.sink.name }, exporter.exported] as const),
  );
  scrapedLabelledCounter(registry, 'keyledger_siem_export_write_failures_total', 'Failed writes to a SIEM sink, each tried again', ['sink'], () =>
    exporters.map((exporter) => [{ sink: exporter.sink.name }, exporter.failures] as const),
  );
}
