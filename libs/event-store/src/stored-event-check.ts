import type { EventAuthenticator } from '@keyledger/event-auth';
import { canonicalEventContent } from '@keyledger/event-auth';
import type { EventRow } from './event-row.js';
import { toEnvelope } from './event-row.js';
import type { CheckedRow } from './stored-content-check.js';
import { checkStoredRowContent } from './stored-content-check.js';

export type { CheckedRow } from './stored-content-check.js';

/**
 * Checks one stored row as every reader must before it becomes an event: its MAC under the
 * event keys (a row inserted by SQL has none or a wrong one), then its data against its type's
 * schema. The one check of the store's reads and of the chain verifier.
 */
export function checkStoredRow(authenticator: EventAuthenticator, row: EventRow): CheckedRow {
  // The envelope made once: the text is made from it (as canonicalRowContent does) and it is what a read returns.
  const event = toEnvelope(row);
  return checkStoredRowContent(authenticator, row, canonicalEventContent(event), event);
}
