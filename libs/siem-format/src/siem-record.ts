import type { EventEnvelope } from '@keyledger/contracts';

/**
 * What a SIEM is told a record is: a change to an entity, a finding (about a key, or events
 * refused as not authentic), or a call to the API (a verification, opt-in per sink).
 */
export type SiemRecordClass = 'entity-management' | 'detection-finding' | 'api-activity';

/** Severity as SIEMs rank it, from routine to page-someone. */
export const SIEM_SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type SiemSeverity = (typeof SIEM_SEVERITIES)[number];

/**
 * One record as it leaves Keyledger (an audit event, a security alert or a verification): an
 * allowlist of fields copied from its source, never the source as a whole, so what a KeyIssued
 * carries about the secret (digest, prefix, hint) and an owner's metadata cannot reach a sink.
 * A key appears only as its id.
 */
export interface SiemRecord {
  readonly eventId: string;
  readonly type: string;
  readonly recordClass: SiemRecordClass;
  readonly severity: SiemSeverity;
  /** The record's place in its source, in the exporter's checkpoint order: `<transaction id>:<position>` for an event. */
  readonly position: string;
  readonly occurredAt: string;
  /** The event's stream; for an alert, the stream of the refused event, when it could be read. */
  readonly streamId?: string;
  readonly keyId?: string;
  readonly tenant?: string;
  readonly owner?: string;
  /** Who acted: an event's actor, the service that raised an alert, the key a verification presented. */
  readonly actor: string;
  readonly correlationId?: string;
  /** Why, in people's words: a suspension's or revocation's reason, an anomaly's detail. */
  readonly reason?: string;
  /** What a finding is about: the anomaly kind, or `leak`. */
  readonly findingKind?: string;
  /** The address of the call a finding is about (a honeytoken's use), as the verifier recorded it. */
  readonly sourceAddress?: string;
  /** An alert: the refusals it stands for (a flood is counted, not listed). */
  readonly count?: number;
  /** A verification's code (`VALID`, `REVOKED`, …); an alert's rejection reason (`bad-mac`, …). */
  readonly outcome?: string;
  /** A verification: the scopes asked for. */
  readonly scopes?: readonly string[];
  /** A verification: the transport it came by (`http`, `nats`, `grpc`); an alert: where the refused event was met (`bus`, `store`). */
  readonly transport?: string;
  /** A verification: the credits it was charged. */
  readonly cost?: number;
  /** An alert: the NATS subject the refused event came on. */
  readonly subject?: string;
  /** An alert: the refused event's id, as far as it could be read. */
  readonly refusedEventId?: string;
}

const FINDINGS: ReadonlySet<string> = new Set(['AnomalyDetected', 'KeyLeakReported']);

function text(data: unknown, field: string): string | undefined {
  const value = (data as Record<string, unknown> | null)?.[field];
  return typeof value === 'string' ? value : undefined;
}

function severityOf(type: string, data: unknown): SiemSeverity {
  if (type === 'KeyLeakReported') return 'high';
  if (type === 'AnomalyDetected') {
    const severity = text(data, 'severity');
    return SIEM_SEVERITIES.find((known) => known === severity) ?? 'medium';
  }
  return type === 'KeyRevoked' || type === 'KeySuspended' ? 'low' : 'info';
}

function keyIdOf(event: EventEnvelope): string | undefined {
  const keyId = text(event.data, 'keyId');
  if (keyId !== undefined) return keyId;
  return event.streamId.startsWith('key-') ? event.streamId.slice('key-'.length) : undefined;
}

/**
 * The record of one authentic event of the store. `tenant` is the tenant of the event's stream
 * when the event does not name one (a KeyRevoked names only its key).
 */
export function siemRecordOf(event: EventEnvelope, tenant?: string): SiemRecord {
  const finding = FINDINGS.has(event.type);
  const reason = text(event.data, finding ? 'detail' : 'reason');
  const keyId = keyIdOf(event);
  const owner = text(event.data, 'owner');
  const eventTenant = text(event.data, 'tenant') ?? tenant;
  const sourceAddress = finding ? text((event.data as { call?: unknown } | null)?.call, 'ip') : undefined;
  return {
    eventId: event.eventId,
    type: event.type,
    recordClass: finding ? 'detection-finding' : 'entity-management',
    severity: severityOf(event.type, event.data),
    position: `${event.transactionId}:${event.position}`,
    occurredAt: event.occurredAt,
    streamId: event.streamId,
    actor: event.metadata.actor,
    correlationId: event.metadata.correlationId,
    ...(keyId !== undefined && { keyId }),
    ...(eventTenant !== undefined && { tenant: eventTenant }),
    ...(owner !== undefined && { owner }),
    ...(reason !== undefined && { reason }),
    ...(finding && { findingKind: event.type === 'KeyLeakReported' ? 'leak' : (text(event.data, 'kind') ?? 'other') }),
    ...(sourceAddress !== undefined && { sourceAddress }),
  };
}
