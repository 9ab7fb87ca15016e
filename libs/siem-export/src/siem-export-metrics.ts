import { Gauge } from 'prom-client';
import type { Registry } from '@keyledger/observability';
import { scrapedLabelledCounter } from '@keyledger/observability';
import type { SiemExports } from './siem-exporters.js';

/** Each sink's lag, records exported and failed writes per source (audit, alerts, usage), and usage lost to retention, on the service's registry. */
export function registerSiemExportMetrics(registry: Registry, { exporters, usageRetention }: SiemExports): void {
  const labels = (exporter: SiemExports['exporters'][number]) => ({ sink: exporter.sink.name, source: exporter.source });
  new Gauge({
    name: 'keyledger_siem_export_lag_seconds',
    help: 'Age of the oldest record (audit event, security alert, verification) read for a SIEM sink and not yet acknowledged by it; 0 when caught up',
    labelNames: ['sink', 'source'],
    registers: [registry],
    collect() {
      for (const exporter of exporters) this.set(labels(exporter), exporter.lagSeconds());
    },
  });
  scrapedLabelledCounter(registry, 'keyledger_siem_export_records_total', 'Records a SIEM sink acknowledged, by source', ['sink', 'source'], () =>
    exporters.map((exporter) => [labels(exporter), exporter.exported] as const),
  );
  scrapedLabelledCounter(
    registry,
    'keyledger_siem_export_write_failures_total',
    'Failed writes to a SIEM sink, each tried again, by source',
    ['sink', 'source'],
    () => exporters.map((exporter) => [labels(exporter), exporter.failures] as const),
  );
  const usageSinks = [...new Set(exporters.filter((exporter) => exporter.source === 'usage').map((exporter) => exporter.sink.name))];
  scrapedLabelledCounter(
    registry,
    'keyledger_siem_export_usage_expired_total',
    'Verifications usage retention dropped before a SIEM sink exported them (the sink was behind the retention)',
    ['sink'],
    () => usageSinks.map((sink) => [{ sink }, usageRetention.expiredFor(sink)] as const),
  );
}
