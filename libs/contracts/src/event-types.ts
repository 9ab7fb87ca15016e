/**
 * Every event type Keyledger records, as one closed set. Services may only append or
 * consume names from this list, so an auditor reading the store knows the whole vocabulary.
 */
export const KEY_EVENT_TYPES = [
  'KeyIssued',
  'KeyUpdated',
  'KeySuspended',
  'KeyResumed',
  'KeyRevoked',
  'KeyExpired',
  'KeyRotated',
  'KeyCreditsToppedUp',
  'CreditsConsumed',
  'RotationPolicySet',
  'OwnerPublicKeyRegistered',
  'KeyDelivered',
  'KeyGraceEnded',
  'OwnerWebhookRegistered',
  'KeyDeliveryAcknowledged',
  'KeyDeliveryExpired',
  'KeyLeakReported',
  'AnomalyDetected',
  'KeyIncidentHandled',
  'IncidentPolicySet',
] as const;

export type KeyEventType = (typeof KEY_EVENT_TYPES)[number];

/** Aggregate categories; a stream id is `<category>-<aggregate id>`. */
export const STREAM_CATEGORIES = ['key', 'tenant', 'owner', 'system', 'credits', 'delivery'] as const;
export type StreamCategory = (typeof STREAM_CATEGORIES)[number];

// At most 40 + 1 + 200 characters: the envelope schema on the bus allows 250.
const STREAM_ID_PATTERN = /^([a-z][a-z0-9]{0,39})-([A-Za-z0-9_.:-]{1,200})$/;

/** Builds the stream id of one aggregate, e.g. `streamIdOf('key', 'key_01J…')`. */
export function streamIdOf(category: StreamCategory, aggregateId: string): string {
  const streamId = `${category}-${aggregateId}`;
  if (!STREAM_ID_PATTERN.test(streamId)) {
    throw new RangeError(`invalid aggregate id for a stream: ${JSON.stringify(aggregateId)}`);
  }
  return streamId;
}

/** The category of a stream id, or undefined when the id is not well formed. */
export function categoryOf(streamId: string): string | undefined {
  return STREAM_ID_PATTERN.exec(streamId)?.[1];
}

/** True when the string is a well-formed stream id (`<category>-<id>`). */
export function isStreamId(streamId: string): boolean {
  return STREAM_ID_PATTERN.test(streamId);
}
