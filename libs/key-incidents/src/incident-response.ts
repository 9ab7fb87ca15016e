import type { JetStreamClient } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type {
  AnomalyDetectedData,
  EventEnvelope,
  IncidentAction,
  IncidentNotification,
  IncidentType,
  TenantNotification,
  KeyIncidentHandledData,
  KeyLeakReportedData,
} from '@keyledger/contracts';
import {
  DURABLE_CONSUMER_NAMES,
  INCIDENT_TYPES,
  MESSAGE_HEADERS,
  anomalyDetectedSchema,
  formatUsageSeal,
  keyLeakReportedSchema,
  notificationSubject,
  streamIdOf,
  tenantNotificationSchema,
} from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { SYSTEM_CALLER, commandMetadata } from '@keyledger/admin-auth';
import type { Projection } from '@keyledger/consumer-runtime';
import type { EventAuthenticator } from '@keyledger/event-auth';
import type { PostgresEventStore } from '@keyledger/event-store';
import { ConcurrencyConflictError } from '@keyledger/event-store';
import type { IncidentResponse, KeyRecord } from '@keyledger/key-domain';
import {
  DomainError,
  ROTATION_REFUSED_FOR_QUOTA,
  decideIncidentResponse,
  effectiveIncidentPolicy,
  incidentEffects,
  incidentOutcome,
  policyActionFor,
} from '@keyledger/key-domain';
import type { Logger, Registry } from '@keyledger/observability';
import { scrapedLabelledCounter } from '@keyledger/observability';
import type { KeyCommands } from '@keyledger/key-commands';
import { loadKey } from '@keyledger/key-commands';
import type { KeyRotation } from '@keyledger/key-rotation';
import { isLostRace } from '@keyledger/key-rotation';
import { readTenantSettings } from '@keyledger/tenant-settings';
import { handledIncident, policyIncidentOf, replacementIssued } from './incident-reports.js';

/**
 * Publishes incident notifications through JetStream on `<prefix>.v1.notifications.<tenant>`,
 * message id `incident-<incident id>`: a notification published again (a redelivered incident)
 * is stored once within the stream's duplicate window. The rotator's are about keys; the
 * anomaly detector's about source networks (an incident id is an event id: never both).
 */
export class IncidentNotificationPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    /** Seals each one (`Keyledger-Notification-Seal`): it is POSTed on, signed, to the tenant's webhook. */
    private readonly authenticator: Pick<EventAuthenticator, 'sealNotification'>,
  ) {}

  /** Resolves once JetStream has stored it. */
  async publish(notification: TenantNotification): Promise<void> {
    const message = tenantNotificationSchema.parse(notification);
    const payload = new TextEncoder().encode(JSON.stringify(message));
    const sealed = headers();
    sealed.set(MESSAGE_HEADERS.notificationSeal, formatUsageSeal(this.authenticator.sealNotification(payload)));
    await this.js.publish(notificationSubject(this.prefix, message.tenant), payload, { msgID: `incident-${message.incidentId}`, headers: sealed });
  }
}

export interface IncidentResponderDependencies {
  /** Suspends and revokes keys as `system:rotator` (its systemActor). */
  readonly keys: Pick<KeyCommands, 'suspend' | 'revoke'>;
  /** Rotates keys as `system:rotator`, delivering new keys as any rotation does. */
  readonly rotation: Pick<KeyRotation, 'rotate'>;
  readonly store: PostgresEventStore;
  readonly notifications: Pick<IncidentNotificationPublisher, 'publish'>;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

/** Times an incident is decided again when the key changed while it was handled (`isLostRace`). */
const ATTEMPTS = 5;

type Incident =
  { readonly type: 'KeyLeakReported'; readonly data: KeyLeakReportedData } | { readonly type: 'AnomalyDetected'; readonly data: AnomalyDetectedData };

function parseIncident(event: EventEnvelope): Incident | undefined {
  if (event.type === 'KeyLeakReported') return { type: event.type, data: keyLeakReportedSchema.parse(event.data) };
  if (event.type === 'AnomalyDetected') return { type: event.type, data: anomalyDetectedSchema.parse(event.data) };
  return undefined;
}

/**
 * The rotator's answer to incidents: for each KeyLeakReported and AnomalyDetected, reads the
 * key's effective incident policy, decides (`decideIncidentResponse`) and acts through
 * KeyCommands and KeyRotation (suspend, rotate with the policy's grace, emergency rotation, revoke), tells the
 * tenant on its notification subject, and records KeyIncidentHandled on the key's stream.
 *
 * Handling one incident twice (a redelivery, a crash in the middle, two replicas) acts once:
 * the actions name the incident as their causation, so a second pass reads what the first did
 * from the key's stream; a rotation or suspension already made is refused by the key's rules;
 * and KeyIncidentHandled is appended at the version read, once, after which the incident is a
 * no-op.
 */
export class IncidentResponder {
  private readonly clock: () => Date;
  private readonly handled = new Map<string, number>();

  constructor(private readonly deps: IncidentResponderDependencies) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** Incidents this process recorded as handled, by `<incident type>/<action>`. */
  counts(): ReadonlyMap<string, number> {
    return this.handled;
  }

  /** Handles an event of a key's stream; other than an incident, it does nothing. Returns what was recorded. */
  async handle(event: EventEnvelope): Promise<KeyIncidentHandledData | undefined> {
    const incident = parseIncident(event);
    if (!incident) return undefined;
    const { keyId } = incident.data;
    const context: CommandContext = {
      caller: SYSTEM_CALLER,
      correlationId: event.metadata.correlationId,
      causationId: event.eventId,
      traceparent: event.metadata.traceparent,
    };
    const judged = policyIncidentOf(incident, event.metadata.actor);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      const { record, events } = await loadKey(this.deps.store, keyId);
      if (!record) throw new Error(`incident ${event.eventId} names key ${keyId}, which has no KeyIssued`);
      const recorded = handledIncident(events, event.eventId);
      if (recorded) return recorded;
      const policy = effectiveIncidentPolicy((await readTenantSettings(this.deps.store, record.tenant)).incidentPolicies, record.tenant, record.owner);
      const response = decideIncidentResponse(
        judged,
        policy,
        { record, replacementIssued: await replacementIssued(this.deps.store, record) },
        this.clock().getTime(),
      );
      let delivery: string | undefined;
      let taken = response;
      try {
        delivery = await this.act(record, incident, response, context);
      } catch (error) {
        if (isLostRace(error)) continue;
        if (!(error instanceof DomainError && error.code === 'TENANT_KEY_QUOTA_EXCEEDED')) throw error;
        taken = ROTATION_REFUSED_FOR_QUOTA;
      }
      const after = await loadKey(this.deps.store, keyId);
      // Another replica handling the same incident may have recorded it while this one acted
      // (both completing one rotation, say): its record stands, and this one adds none.
      const recordedMeanwhile = handledIncident(after.events, event.eventId);
      if (recordedMeanwhile) return recordedMeanwhile;
      const effects = incidentEffects(
        after.events.map((stored) => ({ type: stored.type, data: stored.data, causationId: stored.metadata.causationId })),
        event.eventId,
      );
      const data: KeyIncidentHandledData = {
        keyId,
        tenant: record.tenant,
        incident: { type: incident.type, eventId: event.eventId },
        ...incidentOutcome(policyActionFor(judged, policy), taken, effects),
        at: this.clock().toISOString(),
      };
      if (data.action !== 'none') await this.deps.notifications.publish(this.notification(event.eventId, incident, record, data, delivery));
      try {
        await this.deps.store.append(streamIdOf('key', keyId), after.events.length, [
          { type: 'KeyIncidentHandled', data, metadata: commandMetadata(context, 'system:rotator') },
        ]);
      } catch (error) {
        if (error instanceof ConcurrencyConflictError) continue;
        throw error;
      }
      this.count(incident.type, data.action);
      this.deps.logger.info(
        {
          keyId,
          incident: incident.type,
          incidentId: event.eventId,
          policy: data.policy,
          action: data.action,
          reason: data.reason,
          replacedBy: data.replacedBy,
        },
        'incident handled',
      );
      return data;
    }
    throw new Error(`incident ${event.eventId} on key ${keyId}: the key kept changing while it was handled; retried at redelivery`);
  }

  /** Carries out a decision; returns the new key's delivery status after a rotation. */
  private async act(record: KeyRecord, incident: Incident, response: IncidentResponse, context: CommandContext): Promise<string | undefined> {
    const keyId = record.keyId;
    const why = incident.type === 'KeyLeakReported' ? 'reported leaked' : `anomaly: ${incident.data.kind} (${incident.data.severity})`;
    switch (response.action) {
      case 'none':
      case 'notify':
        return undefined;
      case 'suspend':
        await this.deps.keys.suspend({ keyId, reason: why }, context);
        return undefined;
      case 'revoke':
        await this.deps.keys.revoke({ keyId, reason: `${why} during its rotation grace`, waitForVerifiers: false }, context);
        return undefined;
      case 'rotate':
      case 'emergency-rotate': {
        const emergency = response.action === 'emergency-rotate';
        const rotated = await this.deps.rotation.rotate(
          { keyId, emergency, waitForVerifiers: false, ...(emergency ? {} : { graceMs: response.graceMs }) },
          context,
        );
        if (rotated.delivery === 'FAILED' || rotated.delivery === 'UNRECORDED')
          this.deps.logger.warn(
            { keyId: rotated.keyId, owner: record.owner, delivery: rotated.delivery },
            'the new key of an incident rotation was not delivered and recorded',
          );
        return rotated.delivery;
      }
      default:
        return response satisfies never;
    }
  }

  private notification(
    incidentId: string,
    incident: Incident,
    record: KeyRecord,
    handled: KeyIncidentHandledData,
    delivery: string | undefined,
  ): IncidentNotification {
    return {
      v: 1,
      type: 'KeyIncident',
      incidentId,
      incident: incident.type,
      keyId: record.keyId,
      tenant: record.tenant,
      owner: record.owner,
      hint: record.hint,
      ...(incident.type === 'KeyLeakReported'
        ? { source: incident.data.source }
        : {
            anomaly: {
              kind: incident.data.kind,
              severity: incident.data.severity,
              ...(incident.data.detail === undefined ? {} : { detail: incident.data.detail }),
              ...(incident.data.call === undefined ? {} : { call: incident.data.call }),
            },
          }),
      policy: handled.policy,
      action: handled.action,
      ...(handled.reason === undefined ? {} : { reason: handled.reason }),
      ...(handled.replacedBy === undefined ? {} : { replacedBy: handled.replacedBy }),
      ...(handled.graceEndsAt === undefined ? {} : { graceEndsAt: handled.graceEndsAt }),
      ...(delivery === undefined || handled.replacedBy === undefined ? {} : { delivery }),
      at: handled.at,
    };
  }

  private count(type: IncidentType, action: IncidentAction): void {
    const label = `${type}/${action}`;
    this.handled.set(label, (this.handled.get(label) ?? 0) + 1);
  }
}

/**
 * The incident responder as a projection of the key streams, for a DurableEventConsumer: each
 * incident is handled once it arrives, and the consumer's inbox skips a redelivery of one already
 * handled. Its state is the KeyIncidentHandled events themselves, so a rebuild has nothing to
 * reset: replayed incidents find their record and do nothing.
 *
 * The consumer applies an event inside a Postgres transaction (its inbox row), which stays open
 * while the key is changed: a few milliseconds for most actions, longer when a delivery is
 * retried. The relay publishes nothing committed after that transaction began until it ends.
 */
export class IncidentResponseProjection implements Projection {
  readonly category = 'key';

  constructor(
    private readonly responder: Pick<IncidentResponder, 'handle'>,
    readonly name: string = DURABLE_CONSUMER_NAMES.rotatorIncidents,
  ) {}

  async apply(event: EventEnvelope): Promise<void> {
    if ((INCIDENT_TYPES as readonly string[]).includes(event.type)) await this.responder.handle(event);
  }

  async reset(): Promise<void> {
    // Nothing of its own to empty: what it did is in the key streams.
  }
}

/** The rotator's incident metrics: incidents handled by this process, by incident type and action. */
export function registerIncidentMetrics(registry: Registry, responder: Pick<IncidentResponder, 'counts'>): void {
  scrapedLabelledCounter(
    registry,
    'keyledger_rotator_incidents_total',
    'Incidents (leak reports, anomalies) this rotator handled, by incident and the action taken',
    ['incident', 'action'],
    () =>
      [...responder.counts()].map(([label, total]) => {
        const [incident, action] = label.split('/') as [string, string];
        return [{ incident, action }, total] as const;
      }),
  );
}
