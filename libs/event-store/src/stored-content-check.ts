import type { EventEnvelope, EventRejectionReason } from '@keyledger/contracts';
import { checkEventData } from '@keyledger/contracts';
import type { EventAuthenticator, EventRejection } from '@keyledger/event-auth';
import type { EventRow } from './event-row.js';
import { toEnvelope } from './event-row.js';

/** A row read back: the event, when it is authentic and of its type's shape, or why it is refused. */
export type CheckedRow = { readonly event: EventEnvelope; readonly rejection?: undefined } | { readonly event?: undefined; readonly rejection: EventRejection };

/**
 * `checkStoredRow` for a row whose canonical content text (`canonicalRowContent`) is already at
 * hand: the same checks in the same order (a MAC, then one under a configured key version, then
 * the data against its type's schema) with the same rejections, the MAC taken over that text (or its UTF-8).
 * For a verifier that needs the text for the hash chain and the log's leaf as well and makes it once;
 * `event` is the row's envelope when the caller has made it already (it made the text from it).
 */
export function checkStoredRowContent(
  authenticator: EventAuthenticator,
  row: EventRow,
  content: string | Uint8Array,
  event: EventEnvelope = toEnvelope(row),
): CheckedRow {
  const refuse = (reason: EventRejectionReason, detail: string): CheckedRow => ({
    rejection: {
      source: 'store',
      reason,
      eventId: event.eventId,
      streamId: event.streamId,
      streamVersion: event.streamVersion,
      position: event.position,
      detail,
    },
  });
  if (row.auth_version === null || row.auth_mac === null) return refuse('unsealed', 'the row has no MAC');
  const mac = authenticator.checkStoredContent(content, { version: row.auth_version, mac: row.auth_mac });
  if (mac !== 'ok') return refuse(mac, mac === 'bad-mac' ? 'the MAC does not match the row' : `no event key version ${row.auth_version} is configured`);
  const problem = checkEventData(event.type, event.schemaVersion, event.data);
  if (problem) return refuse(problem.problem, problem.message);
  return { event };
}
