import type { SecurityAlert } from '@keyledger/contracts';
import type { SiemRecord } from './siem-record.js';

/** The type alerts are exported under: the CEF signature id, the OCSF event code, the syslog MSGID. */
export const EVENTS_REJECTED = 'EventsRejected';

/** Where a stored alert sits in the export order, and the id it is known by. */
export interface StoredAlertPlace {
  /** Stable across deliveries of the same alert: a sink that receives it twice can tell. */
  readonly alertId: string;
  /** `<transaction id>:<seq>` of the stored alert: the exporter's checkpoint order. */
  readonly position: string;
}

function keyIdOfStream(streamId: string | undefined): string | undefined {
  return streamId?.startsWith('key-') ? streamId.slice('key-'.length) : undefined;
}

function describe(alert: SecurityAlert): string {
  const met = alert.source === 'bus' ? `on the bus${alert.subject === undefined ? '' : ` at ${alert.subject}`}` : 'in the event store';
  const latest = [alert.eventId && `event ${alert.eventId}`, alert.streamId && `stream ${alert.streamId}`, alert.position && `position ${alert.position}`]
    .filter(Boolean)
    .join(', ');
  return `${alert.rejected} event(s) refused ${met} (${alert.reason})${latest === '' ? '' : `; the latest: ${latest}`}`;
}

/**
 * A security alert (events a service refused as forged, edited, unsealed or malformed) as a
 * finding. The alert carries no event data, so neither does its record; its fields are what the
 * refusing service could read of the refused event, which is a stranger's claim: they identify,
 * they are not believed (the key a refused event names is its stream's, not a verified fact).
 */
export function siemRecordOfAlert(alert: SecurityAlert, place: StoredAlertPlace): SiemRecord {
  const keyId = keyIdOfStream(alert.streamId);
  return {
    eventId: place.alertId,
    type: EVENTS_REJECTED,
    recordClass: 'detection-finding',
    // Someone wrote to the bus or the store without the event key, or the key is misconfigured: either pages someone.
    severity: 'high',
    position: place.position,
    occurredAt: alert.at,
    actor: alert.service,
    reason: describe(alert),
    findingKind: alert.kind,
    count: alert.rejected,
    outcome: alert.reason,
    transport: alert.source,
    ...(alert.streamId !== undefined && { streamId: alert.streamId }),
    ...(keyId !== undefined && { keyId }),
    ...(alert.subject !== undefined && { subject: alert.subject }),
    ...(alert.eventId !== undefined && { refusedEventId: alert.eventId }),
  };
}
