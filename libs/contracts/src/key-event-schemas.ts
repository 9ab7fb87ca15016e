import { anomalyDetectedSchema, keyIncidentHandledSchema, keyLeakReportedSchema } from './incident-events.js';
import type { KeyEvent } from './key-events.js';
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
} as const satisfies Record<KeyEvent['type'], unknown>;

/** Reads a stored or received event as a KeyEvent; undefined for other or unknown types. */
export function parseKeyEvent(type: string, schemaVersion: number, data: unknown): KeyEvent | undefined {
  if (schemaVersion !== 1 || !(type in keyEventSchemas)) return undefined;
  const parsed = keyEventSchemas[type as keyof typeof keyEventSchemas].safeParse(data);
  return parsed.success ? ({ type, data: parsed.data } as KeyEvent) : undefined;
}
