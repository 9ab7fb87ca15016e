import type { PostgresEventStore } from '@keyledger/event-store';
import type { Logger } from '@keyledger/observability';
import type { SiemDevice } from '@keyledger/siem-format';
import { formatSiemRecord, siemRecordOf } from '@keyledger/siem-format';
import type { SiemExportCheckpoints } from './siem-export-checkpoints.js';
import { writeUntilTaken } from './sink-writer.js';
import type { SiemLine, SiemSink } from './sinks/siem-sink.js';
import type { StreamTenants } from './stream-tenants.js';

export interface SiemExporterSettings {
  /** Events read and written per batch, one checkpoint each. */
  readonly batchSize: number;
  /** The longest wait between two attempts at a sink that is down. */
  readonly retryMaxMs: number;
  readonly device: SiemDevice;
}

/**
 * Exports the store's events to one sink, in the store's (transaction_id, position) order:
 * reads a batch after the sink's checkpoint, writes it, and moves the checkpoint once the sink
 * took it. A sink that is down is tried again with backoff, for ever: nothing is skipped, so
 * it stalls its own export (its lag grows), not the other sinks'. At least once: a crash
 * between a write and its checkpoint writes that batch again on restart.
 *
 * Events are read from the store, not the audit_trail table: each row's MAC is checked (a row
 * inserted by SQL is never exported), and the store's reader never passes a transaction
 * still running, so a late commit cannot fall behind a checkpoint.
 */
export class SiemExporter {
  /** What it exports, as the metrics name it. */
  readonly source = 'audit';
  private readonly stopping = new AbortController();
  private oldestPending: number | undefined;
  private exportedTotal = 0;
  private failedWrites = 0;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly checkpoints: SiemExportCheckpoints,
    private readonly tenants: StreamTenants,
    readonly sink: SiemSink,
    private readonly settings: SiemExporterSettings,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records the sink acknowledged since start. */
  get exported(): number {
    return this.exportedTotal;
  }

  /** Failed writes to the sink since start (each retried). */
  get failures(): number {
    return this.failedWrites;
  }

  /** Seconds since the oldest event read and not yet acknowledged occurred; 0 when caught up. */
  lagSeconds(): number {
    return this.oldestPending === undefined ? 0 : Math.max(0, (this.now() - this.oldestPending) / 1000);
  }

  /** Exports every event committed after the sink's checkpoint; returns when caught up or stopped. */
  async exportPending(): Promise<void> {
    let from = await this.checkpoints.read(this.sink.name);
    while (!this.stopping.signal.aborted) {
      const page = await this.store.readAll(from, this.settings.batchSize);
      if (page.end === undefined) {
        this.oldestPending = undefined;
        return;
      }
      const first = page.events[0];
      this.oldestPending = first === undefined ? undefined : Date.parse(first.occurredAt);
      const lines: SiemLine[] = [];
      for (const event of page.events) {
        const record = siemRecordOf(event, await this.tenants.of(event));
        lines.push({ record, text: formatSiemRecord(record, this.sink.format, this.settings.device) });
      }
      // A batch abandoned by a stop is not acknowledged: the checkpoint stays before it.
      if (lines.length > 0 && !(await this.write(lines))) return;
      if (await this.checkpoints.advance(this.sink.name, from, page.end, lines.length)) {
        this.exportedTotal += lines.length;
        from = page.end;
      } else {
        // Another exporter of this sink moved it on: carry on from where it got.
        from = await this.checkpoints.read(this.sink.name);
      }
    }
  }

  private write(lines: readonly SiemLine[]): Promise<boolean> {
    const settings = { retryMaxMs: this.settings.retryMaxMs, signal: this.stopping.signal, source: this.source };
    return writeUntilTaken(this.sink, lines, settings, this.logger, () => void (this.failedWrites += 1));
  }

  /** Stops at the next step: a batch being retried is abandoned (its checkpoint not moved). */
  stop(): void {
    this.stopping.abort();
  }

  /** Closes the sink, once the export has stopped. */
  close(): Promise<void> {
    return this.sink.close();
  }
}
