import type { SiemRecord } from './siem-record.js';

/**
 * The record as one JSON line. JSON escapes every control character in strings, so the line
 * never holds a line break of its own.
 */
export function toJsonLine(record: SiemRecord | Readonly<Record<string, unknown>>): string {
  return JSON.stringify(record);
}
