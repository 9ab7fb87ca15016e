import { canonicalEventContent } from '@keyledger/event-auth';
import type { EventRow } from './event-row.js';
import { toEnvelope } from './event-row.js';

/**
 * The canonical text of a stored row's content (RFC 8785, `canonicalEventContent`): what its
 * chain hash, its stored MAC and its transparency-log leaf all cover. The one place that text
 * is made from a row, so a verifier computes it once per row and hands it to every check.
 */
export function canonicalRowContent(row: EventRow): string {
  return canonicalEventContent(toEnvelope(row));
}
