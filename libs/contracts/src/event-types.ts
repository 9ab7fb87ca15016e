/** Aggregate categories; a stream id is `<category>-<aggregate id>`. */
export const STREAM_CATEGORIES = ['key', 'tenant', 'owner', 'system', 'credits', 'delivery', 'network'] as const;
export type StreamCategory = (typeof STREAM_CATEGORIES)[number];

/**
 * Every event type Keyledger records, by the category of the streams that hold it: one
 * closed set, so an auditor reading the store knows the whole vocabulary.
 * `PostgresEventStore.append` refuses any other type.
 */
export const EVENT_TYPES_BY_CATEGORY = {
  key: [
    'KeyIssued',
    'KeyUpdated',
    'KeySuspended',
    'KeyResumed',
    'KeyRevoked',
    'KeyRotated',
    'KeyCreditsToppedUp',
    'KeyGraceEnded',
    'KeyLeakReported',
    'AnomalyDetected',
    'KeyIncidentHandled',
    'AnomalyAcknowledged',
  ],
  tenant: ['RotationPolicySet', 'IncidentPolicySet', 'OwnerPublicKeyRegistered', 'OwnerWebhookRegistered', 'AnomalyThresholdsSet', 'NotificationWebhookSet'],
  delivery: ['KeyDelivered', 'KeyDeliveryAcknowledged', 'KeyDeliveryExpired'],
  /** What each verifier instance charged to keys' credits. */
  credits: ['CreditsConsumed'],
  system: ['AdminKeyBootstrapped'],
  /** Source networks refused by every verifier (network-events.ts), and the enumerations found from them. */
  network: ['SourceNetworkDenied', 'SourceNetworkAllowed', 'SourceAnomalyDetected'],
} as const satisfies Partial<Record<StreamCategory, readonly string[]>>;

type EventTypesByCategory = typeof EVENT_TYPES_BY_CATEGORY;

/** The event types of one category's streams, e.g. `EventTypeOf<'tenant'>`. */
export type EventTypeOf<C extends keyof EventTypesByCategory> = EventTypesByCategory[C][number];

/** An event type the store records. */
export type EventType = EventTypeOf<keyof EventTypesByCategory>;

/** The closed set of event types, every category together. */
export const EVENT_TYPES: ReadonlySet<string> = new Set<EventType>(Object.values(EVENT_TYPES_BY_CATEGORY).flat());

/** True when the store records events of this type. */
export function isEventType(type: string): type is EventType {
  return EVENT_TYPES.has(type);
}

/** True when the streams of this category record events of this type. */
export function isEventTypeOf<C extends keyof EventTypesByCategory>(category: C, type: string): type is EventTypeOf<C> {
  return (EVENT_TYPES_BY_CATEGORY[category] as readonly string[]).includes(type);
}

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
