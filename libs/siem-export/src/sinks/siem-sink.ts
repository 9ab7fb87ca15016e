import type { SiemFormat, SiemRecord } from '@keyledger/siem-format';

/** One record on its way out: the record, and its text in the sink's format. */
export interface SiemLine {
  readonly record: SiemRecord;
  readonly text: string;
}

/**
 * Somewhere records go. `write` resolves once the sink has taken the lines as far as it can
 * tell (a file fsynced, a socket's write flushed to the kernel) and rejects otherwise; the
 * exporter then writes the same lines again, so a sink may receive a record twice, never
 * miss one.
 */
export interface SiemSink {
  /** Names the sink's checkpoint. */
  readonly name: string;
  readonly format: SiemFormat;
  write(lines: readonly SiemLine[]): Promise<void>;
  close(): Promise<void>;
}
