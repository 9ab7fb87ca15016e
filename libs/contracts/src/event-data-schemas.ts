import { z } from 'zod';
import { anomalyAcknowledgedSchema } from './anomaly-findings-api.js';
import { anomalyThresholdsSetSchema } from './anomaly-thresholds.js';
import type { EventType } from './event-types.js';
import { keyDeliveryAcknowledgedSchema, keyDeliveryExpiredSchema, notificationWebhookSetSchema, ownerWebhookRegisteredSchema } from './delivery-events.js';
import {
  anomalyDetectedSchema,
  incidentPolicySetSchema,
  keyIncidentHandledSchema,
  keyLeakReportedSchema,
  sourceAnomalyDetectedSchema,
} from './incident-events.js';
import {
  creditsConsumedSchema,
  keyCreditsToppedUpSchema,
  keyDeliveredSchema,
  keyGraceEndedSchema,
  keyIdSchema,
  keyIssuedSchema,
  keyResumedSchema,
  keyRevokedSchema,
  keyRotatedSchema,
  keySuspendedSchema,
  keyUpdatedSchema,
  ownerPublicKeyRegisteredSchema,
  rotationPolicySetSchema,
} from './key-events.js';
import { sourceNetworkAllowedSchema, sourceNetworkDeniedSchema } from './network-events.js';

/** The system stream's marker: which key the first start made the root admin key. */
export const adminKeyBootstrappedSchema = z.object({ keyId: keyIdSchema }).strict();
export type AdminKeyBootstrappedData = z.infer<typeof adminKeyBootstrappedSchema>;

/**
 * The data schema of every event type, schema version 1: the closed set `EVENT_TYPES` whole
 * (the `satisfies` fails to compile when a type has none). The store checks an event's data
 * against it when appending and again on every read, and the bus decoder on every message,
 * so nothing folds data of the wrong shape.
 */
const EVENT_DATA_SCHEMAS = {
  KeyIssued: keyIssuedSchema,
  KeyUpdated: keyUpdatedSchema,
  KeySuspended: keySuspendedSchema,
  KeyResumed: keyResumedSchema,
  KeyRevoked: keyRevokedSchema,
  KeyRotated: keyRotatedSchema,
  KeyCreditsToppedUp: keyCreditsToppedUpSchema,
  KeyGraceEnded: keyGraceEndedSchema,
  KeyLeakReported: keyLeakReportedSchema,
  AnomalyDetected: anomalyDetectedSchema,
  KeyIncidentHandled: keyIncidentHandledSchema,
  AnomalyAcknowledged: anomalyAcknowledgedSchema,
  RotationPolicySet: rotationPolicySetSchema,
  IncidentPolicySet: incidentPolicySetSchema,
  OwnerPublicKeyRegistered: ownerPublicKeyRegisteredSchema,
  OwnerWebhookRegistered: ownerWebhookRegisteredSchema,
  AnomalyThresholdsSet: anomalyThresholdsSetSchema,
  NotificationWebhookSet: notificationWebhookSetSchema,
  KeyDelivered: keyDeliveredSchema,
  KeyDeliveryAcknowledged: keyDeliveryAcknowledgedSchema,
  KeyDeliveryExpired: keyDeliveryExpiredSchema,
  CreditsConsumed: creditsConsumedSchema,
  AdminKeyBootstrapped: adminKeyBootstrappedSchema,
  SourceNetworkDenied: sourceNetworkDeniedSchema,
  SourceNetworkAllowed: sourceNetworkAllowedSchema,
  SourceAnomalyDetected: sourceAnomalyDetectedSchema,
} as const satisfies Record<EventType, z.ZodType>;

/** Why an event's data is not acceptable: a type outside the closed set (or an unknown schema version), or data not of its type's shape. */
export type EventDataProblem = { readonly problem: 'unknown-type'; readonly message: string } | { readonly problem: 'bad-schema'; readonly message: string };

/**
 * Checks an event's data against its type's schema. Undefined when it fits; otherwise what is
 * wrong, naming fields but never echoing values (data may hold a digest or a webhook URL).
 */
export function checkEventData(type: string, schemaVersion: number, data: unknown): EventDataProblem | undefined {
  if (!Object.hasOwn(EVENT_DATA_SCHEMAS, type)) return { problem: 'unknown-type', message: `${JSON.stringify(type.slice(0, 100))} is not an event type` };
  if (schemaVersion !== 1) return { problem: 'unknown-type', message: `${type} has no schema version ${schemaVersion}` };
  const parsed = EVENT_DATA_SCHEMAS[type as EventType].safeParse(data);
  if (parsed.success) return undefined;
  return {
    problem: 'bad-schema',
    message: `${type} data: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'} ${issue.code}`).join('; ')}`,
  };
}
