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
const API_ACTIVITY = { category: [6, 'Application Activity'], class: [6003, 'API Activity'] } as const;

/** What a verification is in API Activity: no create, read, update or delete, so 99 Other, named. */
const VERIFY_ACTIVITY = [99, 'Verify'] as const;

/** The class-specific part of a finding: what was found, about which key, from where. */
function findingFields(record: SiemRecord, time: number, token: OcsfEvent | undefined): OcsfEvent {
  return {
    finding_info: {
      uid: record.eventId,
      title: eventNameOf(record.type),
      types: [record.findingKind ?? 'other', ...(record.outcome === undefined ? [] : [record.outcome])],
      created_time: time,
      ...(record.reason !== undefined && { desc: record.reason }),
    },
    ...(record.count !== undefined && { count: record.count }),
    ...(token
      ? { resources: [{ ...token, ...(record.owner !== undefined && { owner: { uid: record.owner } }) }] }
      : record.streamId !== undefined && { resources: [{ type: 'Event stream', uid: record.streamId }] }),
    ...(record.sourceAddress !== undefined && { src_endpoint: { ip: record.sourceAddress } }),
    // An alert's particulars OCSF has no field for: where the refused event was met, and what it claimed to be.
    ...((record.transport !== undefined || record.subject !== undefined || record.refusedEventId !== undefined) && {
      unmapped: {
        ...(record.transport !== undefined && { met_on: record.transport }),
        ...(record.subject !== undefined && { subject: record.subject }),
        ...(record.refusedEventId !== undefined && { refused_event_uid: record.refusedEventId }),
        ...(record.streamId !== undefined && { refused_stream_uid: record.streamId }),
      },
    }),
  };
}

/** The class-specific part of a verification: the API called, its outcome, the caller's address, the scopes asked for. */
function apiActivityFields(record: SiemRecord): OcsfEvent {
  return {
    api: { operation: 'keys.verify', service: { name: 'verifier' }, request: { uid: record.eventId } },
    ...(record.sourceAddress !== undefined && { src_endpoint: { ip: record.sourceAddress } }),
    ...(record.scopes !== undefined && record.scopes.length > 0 && { resources: record.scopes.map((scope) => ({ type: 'Scope', name: scope })) }),
    unmapped: {
      ...(record.transport !== undefined && { transport: record.transport }),
      ...(record.cost !== undefined && { cost: record.cost }),
    },
  };
}

/** An OCSF-shaped event: a plain JSON object. */
export type OcsfEvent = Readonly<Record<string, unknown>>;

/**
 * The record shaped as an OCSF event: Entity Management (3004) for lifecycle changes, Detection
 * Finding (2004) for anomalies, leak reports and security alerts, API Activity (6003) for
 * verifications. The key is the `token` (its id, never its secret) and, for 3004, the managed
 * entity; the tenant is `metadata.tenant_uid`.
 */
export function toOcsf(record: SiemRecord, device: SiemDevice): OcsfEvent {
  const kind = record.recordClass === 'detection-finding' ? DETECTION_FINDING : record.recordClass === 'api-activity' ? API_ACTIVITY : ENTITY_MANAGEMENT;
  const [activityId, activityName] =
    record.recordClass === 'detection-finding'
      ? [1, 'Create']
      : record.recordClass === 'api-activity'
        ? VERIFY_ACTIVITY
        : (ENTITY_ACTIVITIES[record.type] ?? [99, 'Other']);
  // A verification's status is its own outcome; an event or an alert is a record of something done.
  const failed = record.recordClass === 'api-activity' && record.outcome !== 'VALID';
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
    status_id: failed ? 2 : 1,
    status: failed ? 'Failure' : 'Success',
    ...(record.recordClass === 'api-activity' && record.outcome !== undefined && { status_code: record.outcome }),
    time,
    message: eventNameOf(record.type),
    metadata: {
      version: OCSF_VERSION,
      uid: record.eventId,
      ...(record.correlationId !== undefined && { correlation_uid: record.correlationId }),
      sequence: record.position,
      event_code: record.type,
      product: { name: device.product, vendor_name: device.vendor, version: device.version },
      ...(record.tenant !== undefined && { tenant_uid: record.tenant }),
    },
    actor: { user: { uid: record.actor } },
    ...(token && { token }),
    ...(record.recordClass === 'detection-finding'
      ? findingFields(record, time, token)
      : record.recordClass === 'api-activity'
        ? apiActivityFields(record)
        : {
            entity: {
              type: record.keyId === undefined ? (record.streamId ?? 'other').split('-')[0] : 'API Key',
              uid: record.keyId ?? record.streamId,
              ...(record.owner !== undefined && { owner: { uid: record.owner } }),
            },
            ...(record.reason !== undefined && { comment: record.reason }),
          }),
  };
}
