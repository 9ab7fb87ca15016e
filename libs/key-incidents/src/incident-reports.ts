import type {
  AnomalyDetectedData,
  EventEnvelope,
  EventMetadata,
  IncidentAction,
  IncidentHandledView,
  IncidentReportResult,
  KeyDeliveryChannel,
  KeyIncidentHandledData,
  KeyLeakReportedData,
  LeakSource,
  ReportAnomalyRequest,
  ReportLeakRequest,
} from '@keyledger/contracts';
import { ApiError, anomalyDetectedSchema, streamIdOf } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { authorizeAdmin, commandMetadata, seesTenant } from '@keyledger/admin-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import { retryConflicts } from '@keyledger/event-store';
import { newEventId } from '@keyledger/ids';
import { loadKey } from '@keyledger/key-commands';
import { anomalyDetectorOf } from '@keyledger/anomaly-detection';
import type { KeyRecord, PolicyIncident, TenantSettings } from '@keyledger/key-domain';
import {
  decideIncidentResponse,
  effectiveIncidentPolicy,
  isWellFormedKey,
  keysInText,
  ownerPublicKeyOf,
  ownerWebhookOf,
  sameLeakSource,
} from '@keyledger/key-domain';
import type { KeyIndex } from '@keyledger/key-projection';
import { findKey } from '@keyledger/key-projection';
import type { KeyHasher } from '@keyledger/key-secrets';
import { readTenantSettings } from '@keyledger/tenant-settings';

export interface IncidentReportsDependencies {
  readonly store: PostgresEventStore;
  readonly hasher: KeyHasher;
  /** The issuer's key projection: where a reported plaintext is looked up (by digest). */
  readonly index: KeyIndex;
  readonly clock?: () => Date;
}

/** Whether the replacement a rotation of this key names was issued (false: no rotation, or an interrupted one). */
export async function replacementIssued(store: PostgresEventStore, record: KeyRecord): Promise<boolean> {
  return record.rotation !== undefined && (await store.streamVersion(streamIdOf('key', record.rotation.replacedBy))) > 0;
}

/** What the rotator recorded about one incident, if it has handled it. */
export function handledIncident(events: readonly EventEnvelope[], incidentId: string): KeyIncidentHandledData | undefined {
  return events.find((event) => event.type === 'KeyIncidentHandled' && (event.data as KeyIncidentHandledData).incident.eventId === incidentId)?.data as
    KeyIncidentHandledData | undefined;
}

/** An incident as the policy judges it: an anomaly by the detector that recorded it (none for an operator's report) and its severity. */
export function policyIncidentOf(
  incident: { readonly type: 'KeyLeakReported' } | { readonly type: 'AnomalyDetected'; readonly data: AnomalyDetectedData },
  recordedBy: string,
): PolicyIncident {
  if (incident.type === 'KeyLeakReported') return { type: incident.type };
  return { type: incident.type, detector: anomalyDetectorOf(incident.data, recordedBy), severity: incident.data.severity };
}

function handledView(handled: KeyIncidentHandledData | undefined): IncidentHandledView | null {
  return handled ? { action: handled.action, reason: handled.reason ?? null, replacedBy: handled.replacedBy ?? null } : null;
}

/**
 * Records an anomaly on the key's stream, as the anomaly detector does (an operator's report
 * goes through `IncidentReports.reportAnomaly`, checked the same way by `anomalyData`). A
 * detector that passes a stable `eventId` (derived from the key, the kind and the window it
 * looked at) records an anomaly once however often it retries: the store answers an identical
 * append of stored ids as the first time. KEY_NOT_FOUND for a key that was never issued.
 */
export async function recordAnomaly(
  store: PostgresEventStore,
  anomaly: AnomalyDetectedData,
  metadata: EventMetadata,
  options: { readonly eventId?: string } = {},
): Promise<{ readonly incidentId: string }> {
  const data = anomalyData(anomaly);
  const eventId = options.eventId ?? newEventId();
  const streamId = streamIdOf('key', data.keyId);
  await retryConflicts(async () => {
    const version = await store.streamVersion(streamId);
    if (version === 0) throw new ApiError('KEY_NOT_FOUND', `key ${data.keyId} does not exist`);
    await store.append(streamId, version, [{ eventId, type: 'AnomalyDetected', data, metadata }]);
  });
  return { incidentId: eventId };
}

/** An anomaly as it may be recorded: well formed, and its detail (it reaches the store, the event stream and the tenant's notification) never a key. */
function anomalyData(anomaly: AnomalyDetectedData): AnomalyDetectedData {
  const data = anomalyDetectedSchema.parse(anomaly);
  if (data.detail !== undefined && keysInText(data.detail).length > 0)
    throw new ApiError('INVALID_ARGUMENT', 'invalid request: detail: must describe the anomaly, not hold a key');
  return data;
}

/** Text of a leak source: it must say where a key was found, never hold one. */
function sourceTexts(source: LeakSource): string[] {
  return [source.file, source.repository, source.url, source.description].filter((text): text is string => text !== undefined);
}

/**
 * Leak and anomaly reports (the rotator acts on them by the tenant's incident policy; see
 * IncidentResponder). A leak reported with the key's plaintext is looked up by its
 * digest, like a verification, and recorded by key id: the plaintext is kept nowhere.
 */
export class IncidentReports {
  private readonly clock: () => Date;

  constructor(private readonly deps: IncidentReportsDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /**
   * Records a leak on the key's stream, once per place. With the plaintext, an admin key holding
   * `keyledger:leaks:report` (or `keyledger:keys:write`) may report; by key id, only one that
   * may change keys (`keyledger:keys:write`), since a report may rotate the key. A key of a
   * tenant the caller may not see is NOT_FOUND, as an unknown key is.
   */
  async reportLeak(request: ReportLeakRequest, context: CommandContext): Promise<IncidentReportResult> {
    const { caller } = context;
    const permission = request.key === undefined ? 'write' : 'reportLeaks';
    authorizeAdmin(caller, caller.tenant, permission);
    if (sourceTexts(request.source).some((text) => keysInText(text).length > 0))
      throw new ApiError('INVALID_ARGUMENT', 'invalid request: source: must say where the key was found, not hold a key');
    let keyId = request.keyId;
    if (request.key !== undefined) {
      if (!isWellFormedKey(request.key)) return { outcome: 'MALFORMED' };
      keyId = findKey(this.deps.index, this.deps.hasher, request.key)?.keyId;
    }
    if (keyId === undefined) return { outcome: 'NOT_FOUND' };
    const evidence = request.key === undefined ? 'key-id' : 'plaintext';
    const streamId = streamIdOf('key', keyId);
    const run = async (): Promise<IncidentReportResult> => {
      const { record, events } = await loadKey(this.deps.store, keyId);
      if (!record || !seesTenant(caller, record.tenant)) return { outcome: 'NOT_FOUND' };
      authorizeAdmin(caller, record.tenant, permission);
      const earlier = events.find((event) => event.type === 'KeyLeakReported' && sameLeakSource((event.data as KeyLeakReportedData).source, request.source));
      if (earlier) return this.result('ALREADY_REPORTED', { type: 'KeyLeakReported' }, record, earlier.eventId, events);
      const data: KeyLeakReportedData = {
        keyId,
        tenant: record.tenant,
        source: request.source,
        evidence,
        reportedBy: commandMetadata(context).actor,
        at: this.clock().toISOString(),
      };
      const incidentId = newEventId();
      await this.deps.store.append(streamId, events.length, [{ eventId: incidentId, type: 'KeyLeakReported', data, metadata: commandMetadata(context) }]);
      return this.result('REPORTED', { type: 'KeyLeakReported' }, record, incidentId, events);
    };
    return retryConflicts(run);
  }

  /**
   * Records an anomaly reported by an operator or an external detector; needs
   * `keyledger:keys:write`. Reads the key's stream once per attempt and appends at its version.
   */
  async reportAnomaly(request: ReportAnomalyRequest, context: CommandContext): Promise<IncidentReportResult> {
    const incidentId = newEventId();
    const { record, events } = await retryConflicts(async () => {
      const loaded = await loadKey(this.deps.store, request.keyId);
      const { record } = loaded;
      if (!record || !seesTenant(context.caller, record.tenant)) throw new ApiError('KEY_NOT_FOUND', `key ${request.keyId} does not exist`);
      authorizeAdmin(context.caller, record.tenant, 'write');
      const data = anomalyData({
        keyId: request.keyId,
        tenant: record.tenant,
        kind: request.kind,
        severity: request.severity,
        ...(request.detail === undefined ? {} : { detail: request.detail }),
        detectedAt: request.detectedAt ?? this.clock().toISOString(),
      });
      await this.deps.store.append(streamIdOf('key', request.keyId), loaded.events.length, [
        { eventId: incidentId, type: 'AnomalyDetected', data, metadata: commandMetadata(context) },
      ]);
      return { record, events: loaded.events };
    });
    // An operator's report names no detector: only rules for any detector apply to it.
    return this.result('REPORTED', { type: 'AnomalyDetected', detector: undefined, severity: request.severity }, record, incidentId, events);
  }

  /** The answer to a report: the key, the incident, and what follows (or followed) from it. */
  private async result(
    outcome: 'REPORTED' | 'ALREADY_REPORTED',
    incident: PolicyIncident,
    record: KeyRecord,
    incidentId: string,
    events: readonly EventEnvelope[],
  ): Promise<IncidentReportResult> {
    const handled = handledIncident(events, incidentId);
    const settings = await readTenantSettings(this.deps.store, record.tenant);
    const policy = effectiveIncidentPolicy(settings.incidentPolicies, record.tenant, record.owner);
    const pending = handled
      ? undefined
      : decideIncidentResponse(incident, policy, { record, replacementIssued: await replacementIssued(this.deps.store, record) }, this.clock().getTime());
    return {
      outcome,
      keyId: record.keyId,
      tenant: record.tenant,
      owner: record.owner,
      hint: record.hint,
      incidentId,
      ...(pending ? { pendingAction: pending.action } : {}),
      handled: handledView(handled),
      ...(isRotation(handled?.action ?? pending?.action) ? { newKeyDelivery: deliveryChannels(settings, record.owner) } : {}),
    };
  }
}

function isRotation(action: IncidentAction | undefined): boolean {
  return action === 'rotate' || action === 'emergency-rotate';
}

/** How an owner receives a new key: its registered public key (sealed, on NATS) and its webhook. */
function deliveryChannels(settings: TenantSettings, owner: string): KeyDeliveryChannel[] {
  return [
    ...(ownerPublicKeyOf(settings.ownerPublicKeys, owner) === undefined ? [] : (['nats'] as const)),
    ...(ownerWebhookOf(settings.ownerWebhooks, owner) === undefined ? [] : (['webhook'] as const)),
  ];
}
