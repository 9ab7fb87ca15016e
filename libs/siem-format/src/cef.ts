import type { SiemRecord, SiemSeverity } from './siem-record.js';

/** Who is reporting, as the CEF header names it (Device Vendor, Device Product, Device Version). */
export interface SiemDevice {
  readonly vendor: string;
  readonly product: string;
  readonly version: string;
}

// CEF has no escape for the other C0 controls; a SIEM's line reader must never see one.
const OTHER_CONTROLS = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/g;

/**
 * A CEF header field: `\` and `|` escaped. A header may not hold a line break at all (ArcSight's
 * rules define no escape for one there), so CR and LF become spaces, as do other controls.
 */
export function escapeCefHeader(value: string): string {
  return value
    .replace(/[\\|]/g, (c) => `\\${c}`)
    .replace(/[\r\n]/g, ' ')
    .replace(OTHER_CONTROLS, ' ');
}

/** A CEF extension value: `\` and `=` escaped, CR and LF as `\r` and `\n`; `|` needs none there. */
export function escapeCefExtensionValue(value: string): string {
  return value
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(OTHER_CONTROLS, ' ');
}

/** CEF severity, 0 (lowest) to 10. */
export const CEF_SEVERITY: Readonly<Record<SiemSeverity, number>> = { info: 1, low: 3, medium: 5, high: 8, critical: 10 };

const NAMES: Readonly<Record<string, string>> = {
  KeyIssued: 'API key issued',
  KeyUpdated: 'API key updated',
  KeySuspended: 'API key suspended',
  KeyResumed: 'API key resumed',
  KeyRevoked: 'API key revoked',
  KeyRotated: 'API key rotated',
  KeyGraceEnded: 'API key grace ended',
  KeyLeakReported: 'API key leak reported',
  AnomalyDetected: 'API key anomaly detected',
  KeyIncidentHandled: 'API key incident handled',
  EventsRejected: 'Events refused as not authentic or not valid',
  KeyUsed: 'API key verified',
};

/** The event's name for people: `API key revoked`, or its type when it has no name of its own. */
export function eventNameOf(type: string): string {
  return NAMES[type] ?? type;
}

/**
 * The record as one CEF line (ArcSight Common Event Format 0):
 * `CEF:0|Vendor|Product|Version|Signature ID|Name|Severity|Extension`, the signature id
 * being the event type (`EventsRejected` for an alert, `KeyUsed` for a verification). The
 * extension uses ArcSight's keys where one fits (`cnt` the refusals an alert stands for,
 * `outcome` a verify code or rejection reason, `app` the transport, `src` the caller) and
 * labelled custom fields for the rest.
 */
export function formatCef(record: SiemRecord, device: SiemDevice): string {
  const header = [
    'CEF:0',
    escapeCefHeader(device.vendor),
    escapeCefHeader(device.product),
    escapeCefHeader(device.version),
    escapeCefHeader(record.type),
    escapeCefHeader(eventNameOf(record.type)),
    String(CEF_SEVERITY[record.severity]),
  ].join('|');
  const extension: [string, string | undefined][] = [
    ['rt', String(Date.parse(record.occurredAt))],
    ['externalId', record.eventId],
    ['cat', record.recordClass],
    ['suser', record.actor],
    ['cs1Label', 'tenant'],
    ['cs1', record.tenant],
    ['cs2Label', 'keyId'],
    ['cs2', record.keyId],
    // A verification has no owner but the scopes it asked for; a label says which this is.
    ['cs3Label', record.scopes === undefined ? 'owner' : 'scopes'],
    ['cs3', record.scopes === undefined ? record.owner : record.scopes.join(',')],
    ['cs4Label', 'correlationId'],
    ['cs4', record.correlationId],
    ['cs5Label', 'position'],
    ['cs5', record.position],
    ['cs6Label', 'findingKind'],
    ['cs6', record.findingKind],
    ['cn1Label', 'cost'],
    ['cn1', record.cost === undefined ? undefined : String(record.cost)],
    ['cnt', record.count === undefined ? undefined : String(record.count)],
    ['outcome', record.outcome],
    ['app', record.transport],
    ['src', record.sourceAddress],
    ['msg', record.reason],
  ];
  const present = extension.filter((pair): pair is [string, string] => pair[1] !== undefined);
  // A label without its value says nothing: drop labels whose field is absent.
  const fields = present.filter(([key], i) => !key.endsWith('Label') || present[i + 1]?.[0] === key.slice(0, -'Label'.length));
  return `${header}|${fields.map(([key, value]) => `${key}=${escapeCefExtensionValue(value)}`).join(' ')}`;
}
