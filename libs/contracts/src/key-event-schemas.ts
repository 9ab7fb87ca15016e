import type { AnomalyAcknowledgedData } from './anomaly-findings-api.js';
import { anomalyAcknowledgedSchema } from './anomaly-findings-api.js';
import type { AnomalyDetectedData, KeyIncidentHandledData, KeyLeakReportedData } from './incident-events.js';
import { anomalyDetectedSchema, keyIncidentHandledSchema, keyLeakReportedSchema } from './incident-events.js';
import type {
  KeyCreditsToppedUpData,
  KeyGraceEndedData,
  KeyIssuedData,
  KeyResumedData,
  KeyRevokedData,
  KeyRotatedData,
  KeySuspendedData,
  KeyUpdatedData,
} from './key-events.js';
import {
  keyCreditsToppedUpSchema,
  keyGraceEndedSchema,
  keyIssuedSchema,
  keyResumedSchema,
  keyRevokedSchema,
  keyRotatedSchema,
  keySuspendedSchema,
  keyUpdatedSchema,
} from './key-events.js';

// Apart from key-events.ts: the incident schemas build on its ids, so it cannot import them back.

/** The key events as a discriminated union, as deciders produce and projections fold them. */
export type KeyEvent =
  | { readonly type: 'KeyIssued'; readonly data: KeyIssuedData }
  | { readonly type: 'KeyUpdated'; readonly data: KeyUpdatedData }
  | { readonly type: 'KeySuspended'; readonly data: KeySuspendedData }
  | { readonly type: 'KeyResumed'; readonly data: KeyResumedData }
  | { readonly type: 'KeyRevoked'; readonly data: KeyRevokedData }
  | { readonly type: 'KeyCreditsToppedUp'; readonly data: KeyCreditsToppedUpData }
  | { readonly type: 'KeyRotated'; readonly data: KeyRotatedData }
  | { readonly type: 'KeyGraceEnded'; readonly data: KeyGraceEndedData }
  | { readonly type: 'KeyLeakReported'; readonly data: KeyLeakReportedData }
  | { readonly type: 'AnomalyDetected'; readonly data: AnomalyDetectedData }
  | { readonly type: 'KeyIncidentHandled'; readonly data: KeyIncidentHandledData }
  | { readonly type: 'AnomalyAcknowledged'; readonly data: AnomalyAcknowledgedData };

const keyEventSchemas = {
  KeyIssued: keyIssuedSchema,
  KeyUpdated: keyUpdatedSchema,
  KeySuspended: keySuspendedSchema,
  KeyResumed: keyResumedSchema,
  KeyRevoked: keyRevokedSchema,
  KeyCreditsToppedUp: keyCreditsToppedUpSchema,
  KeyRotated: keyRotatedSchema,
  KeyGraceEnded: keyGraceEndedSchema,
  KeyLeakReported: keyLeakReportedSchema,
  AnomalyDetected: anomalyDetectedSchema,
  KeyIncidentHandled: keyIncidentHandledSchema,
  AnomalyAcknowledged: anomalyAcknowledgedSchema,
} as const satisfies Record<KeyEvent['type'], unknown>;

/** Reads a stored or received event as a KeyEvent; undefined for other or unknown types. */
export function parseKeyEvent(type: string, schemaVersion: number, data: unknown): KeyEvent | undefined {
  if (schemaVersion !== 1 || !(type in keyEventSchemas)) return undefined;
  const parsed = keyEventSchemas[type as keyof typeof keyEventSchemas].safeParse(data);
  return parsed.success ? ({ type, data: parsed.data } as KeyEvent) : undefined;
}
