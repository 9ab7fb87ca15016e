import type { Logger } from '@keyledger/observability';
import type { SiemDevice } from '@keyledger/siem-format';
import { formatSiemRecord } from '@keyledger/siem-format';
import type { SiemSource, SiemSourceName } from './siem-source.js';
import type { SiemSourceCheckpoints } from './siem-source-checkpoints.js';
import { writeUntilTaken } from './sink-writer.js';
import type { SiemLine, SiemSink } from './sinks/siem-sink.js';

export interface SiemSourceExporterSettings {
  /** Records read and written per batch, one checkpoint each. */
  readonly batchSize: number;
  /** The longest wait between two attempts at a sink that is down. */
  readonly retryMaxMs: number;
  readonly device: SiemDevice;
}

/**
 * Exports one source (the security alerts, or the verifications) to one sink, as SiemExporter
 * does the store's events: reads a batch after the sink's checkpoint for that source, writes it,
 * moves the checkpoint once the sink took it. A sink that is down is tried again for ever and
 * nothing is skipped; a crash between a write and its checkpoint writes that batch again.
 */
export class SiemSourceExporter {
  private readonly stopping = new AbortController();
  private oldestPending: number | undefined;
  private exportedTotal = 0;
  private failedWrites = 0;

  constructor(
    private readonly records: SiemSource,
    private readonly checkpoints: SiemSourceCheckpoints,
    readonly sink: SiemSink,
    private readonly settings: SiemSourceExporterSettings,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  get source(): SiemSourceName {
    return this.records.name;
  }

  /** Records the sink acknowledged since start. */
  get exported(): number {
    return this.exportedTotal;
  }

  /** Failed writes to the sink since start (each retried). */
  get failures(): number {
    return this.failedWrites;
  }

  /** Seconds since the oldest record read and not yet acknowledged occurred; 0 when caught up. */
  lagSeconds(): number {
    return this.oldestPending === undefined ? 0 : Math.max(0, (this.now() - this.oldestPending) / 1000);
  }

  /** Exports every record stored after the sink's checkpoint; returns when caught up or stopped. */
  async exportPending(): Promise<void> {
    let from = await this.checkpoints.read(this.sink.name, this.source);
    while (!this.stopping.signal.aborted) {
      const page = await this.records.read(from, this.settings.batchSize);
      const last = page.at(-1);
      if (last === undefined) {
        this.oldestPending = undefined;
        return;
      }
      this.oldestPending = Math.min(...page.map((item) => Date.parse(item.record.occurredAt)));
      const lines: SiemLine[] = page.map(({ record }) => ({ record, text: formatSiemRecord(record, this.sink.format, this.settings.device) }));
      // A batch abandoned by a stop is not acknowledged: the checkpoint stays before it.
      if (!(await this.write(lines))) return;
      if (await this.checkpoints.advance(this.sink.name, this.source, from, last.position, lines.length)) {
        this.exportedTotal += lines.length;
        from = last.position;
      } else {
        // Another exporter of this sink moved it on: carry on from where it got.
        from = await this.checkpoints.read(this.sink.name, this.source);
      }
    }
  }

  /** Where this sink's export of the source has got to. */
  checkpoint(): ReturnType<SiemSourceCheckpoints['read']> {
    return this.checkpoints.read(this.sink.name, this.source);
  }

  /** Stops at the next step: a batch being retried is abandoned (its checkpoint not moved). */
  stop(): void {
    this.stopping.abort();
  }

  /** Closes the sink, once the export has stopped. */
  close(): Promise<void> {
    return this.sink.close();
  }

  private write(lines: readonly SiemLine[]): Promise<boolean> {
    const settings = { retryMaxMs: this.settings.retryMaxMs, signal: this.stopping.signal, source: this.source };
    return writeUntilTaken(this.sink, lines, settings, this.logger, () => void (this.failedWrites += 1));
  }
}
