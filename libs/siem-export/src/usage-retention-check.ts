import type { Logger } from '@keyledger/observability';
import type { UsageExportReader } from '@keyledger/usage-ledger';
import type { SiemSourceExporter } from './siem-source-exporter.js';

/**
 * Usage retention does not wait for a sink that is behind: before the auditor drops the days
 * before `before`, this counts, for each sink exporting usage, the verifications on those days
 * it has not exported yet, and says so (a warning naming the sink and the count, and
 * `keyledger_siem_export_usage_expired_total{sink}`), rather than letting them go in silence.
 */
export class UsageRetentionCheck {
  private readonly expired = new Map<string, number>();

  constructor(
    private readonly reader: Pick<UsageExportReader, 'countAfterAnsweredBefore'>,
    private readonly exporters: readonly SiemSourceExporter[],
    private readonly logger: Logger,
  ) {}

  /** Verifications each usage sink lost to retention since start. */
  expiredFor(sink: string): number {
    return this.expired.get(sink) ?? 0;
  }

  /** Counts and reports what retention is about to drop before a sink exported it. */
  async beforeDrop(before: number): Promise<void> {
    for (const exporter of this.exporters) {
      if (exporter.source !== 'usage') continue;
      const lost = await this.reader.countAfterAnsweredBefore(await exporter.checkpoint(), before);
      if (lost === 0) continue;
      this.expired.set(exporter.sink.name, this.expiredFor(exporter.sink.name) + lost);
      this.logger.warn(
        { sink: exporter.sink.name, records: lost, before: new Date(before).toISOString() },
        'usage retention drops verifications a SIEM sink has not exported yet; the sink is behind the usage retention',
      );
    }
  }
}
