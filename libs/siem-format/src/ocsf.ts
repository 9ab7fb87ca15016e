import type { SiemDevice } from './cef.js';
import { eventNameOf } from './cef.js';
import type { SiemRecord, SiemSeverity } from './siem-record.js';

/** The OCSF schema version the records are shaped after. */
export const OCSF_VERSION = '1.3.0';

/** OCSF severity_id: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical. */
const SEVERITY_ID: Readonly<Record<SiemSeverity, number>> = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };
const SEVERITY_NAME: Readonly<Record<SiemSeverity, string>> = { info: 'Informational', low: 'Low', medium: 'Medium', high: 'High', critical: 'Critical' };

/** Entity Management (3004) activities a key's lifecycle maps to; anything else is 99 Other. */
const ENTITY_ACTIVITIES: Readonly<Record<string, readonly [number, string]>> = {
  KeyIssued: [1, 'Create'],
  KeyUpdated: [3, 'Update'],
  KeyRevoked: [4, 'Delete'],
  KeySuspended: [12, 'Suspend'],
  KeyResumed: [13, 'Resume'],
  KeyRotated: [3, 'Update'],
  KeyGraceEnded: [11, 'Deactivate'],
};

const ENTITY_MANAGEMENT = { category: [3, 'Identity & Access Management'], class: [3004, 'Entity Management'] } as const;
const DETECTION_FINDING = { category: [2, 'Findings'], class: [2004, 'Detection Finding'] } as const;

/** An OCSF-shaped event: a plain JSON object. */
export type OcsfEvent = Readonly<Record<string, unknown>>;

/**
 * The record shaped as an OCSF event: Entity Management (3004) for lifecycle changes, Detection
 * Finding (2004) for anomalies and leak reports. The key is the `token` (its id, never its
 * secret) and, for 3004, the managed entity; the tenant is `metadata.tenant_uid`.
 */
export function toOcsf(record: SiemRecord, device: SiemDevice): OcsfEvent {
  const finding = record.recordClass === 'detection-finding';
  const kind = finding ? DETECTION_FINDING : ENTITY_MANAGEMENT;
  const [activityId, activityName] = finding ? [1, 'Create'] : (ENTITY_ACTIVITIES[record.type] ?? [99, 'Other']);
  const time = Date.parse(record.occurredAt);
  const token = record.keyId === undefined ? undefined : { uid: record.keyId, type: 'API Key' };
  return {
    category_uid: kind.category[0],
    category_name: kind.category[1],
    class_uid: kind.class[0],
    class_name: kind.class[1],
    activity_id: activityId,
    activity_name: activityName,
    type_uid: kind.class[0] * 100 + activityId,
    severity_id: SEVERITY_ID[record.severity],
    severity: SEVERITY_NAME[record.severity],
    status_id: 1,
    status: 'Success',
    time,
    message: eventNameOf(record.type),
    metadata: {
      version: OCSF_VERSION,
      uid: record.eventId,
      correlation_uid: record.correlationId,
      sequence: record.position,
      event_code: record.type,
      product: { name: device.product, vendor_name: device.vendor, version: device.version },
      ...(record.tenant !== undefined && { tenant_uid: record.tenant }),
    },
    actor: { user: { uid: record.actor } },
    ...(token && { token }),
    ...(finding
      ? {
          finding_info: {
            uid: record.eventId,
            title: eventNameOf(record.type),
            types: [record.findingKind ?? 'other'],
            created_time: time,
            ...(record.reason !== undefined && { desc: record.reason }),
          },
          ...(token && { resources: [{ ...token, ...(record.owner !== undefined && { owner: { uid: record.owner } }) }] }),
          ...(record.sourceAddress !== undefined && { src_endpoint: { ip: record.sourceAddress } }),
        }
      : {
          entity: {
            type: record.keyId === undefined ? record.streamId.split('-')[0] : 'API Key',
            uid: record.keyId ?? record.streamId,
            ...(record.owner !== undefined && { owner: { uid: record.owner } }),
          },
          ...(record.reason !== undefined && { comment: record.reason }),
        }),
  };
}
