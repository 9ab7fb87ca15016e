import type { SiemDevice } from './cef.js';
import { formatCef } from './cef.js';
import { toJsonLine } from './json-line.js';
import { toOcsf } from './ocsf.js';
import type { SiemRecord } from './siem-record.js';

/** The record formats a sink may write. */
export const SIEM_FORMATS = ['jsonl', 'cef', 'ocsf'] as const;
export type SiemFormat = (typeof SIEM_FORMATS)[number];

/** The record in one format, as one line without its line break. */
export function formatSiemRecord(record: SiemRecord, format: SiemFormat, device: SiemDevice): string {
  switch (format) {
    case 'jsonl':
      return toJsonLine(record);
    case 'cef':
      return formatCef(record, device);
    case 'ocsf':
      return toJsonLine(toOcsf(record, device));
    default:
      return format satisfies never;
  }
}
