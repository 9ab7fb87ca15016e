import type { SiemRecord } from '@keyledger/siem-format';

/** The sources a sink may export besides the store's events. */
export const SIEM_SOURCES = ['alerts', 'usage'] as const;
export type SiemSourceName = (typeof SIEM_SOURCES)[number];

/** A record's place in its source's order: the transaction that stored it, its batch (`''` for none), its place. */
export interface SourcePosition {
  readonly transactionId: string;
  readonly batchId: string;
  readonly seq: number;
}

/** Before every record of a source: where a new sink starts. */
export const START_OF_SOURCE: SourcePosition = { transactionId: '0', batchId: '', seq: 0 };

export interface SourceRecord {
  readonly position: SourcePosition;
  readonly record: SiemRecord;
}

/**
 * Records stored in Postgres in an order a checkpoint can follow: `read` answers those after
 * `after`, in order, never past a transaction still running.
 */
export interface SiemSource {
  readonly name: SiemSourceName;
  read(after: SourcePosition, limit: number): Promise<readonly SourceRecord[]>;
}
