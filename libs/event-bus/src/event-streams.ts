import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { BusTopology } from './bus-topology.js';

export interface EventStreamSettings {
  /**
   * How long JetStream remembers a Nats-Msg-Id. The relay reconciles its checkpoint with
   * the stream on start, so this only has to cover retries within one relay's lifetime.
   */
  readonly duplicateWindowMs: number;
  /** Replicas per stream: 1 locally, 3 on a clustered NATS. */
  readonly replicas: number;
  /** 0 keeps events forever; the Postgres store is the source of truth either way. */
  readonly maxAgeMs: number;
  /**
   * How long the usage stream keeps a batch (default 7 days): the auditor stores batches
   * as they come, so this only bounds how long an auditor may be down without losing usage.
   */
  readonly usageMaxAgeMs?: number;
  /**
   * How long the delivery stream keeps a sealed key (default 24 h, the default grace): an
   * owner's client offline for longer gets no envelope, and its old key has expired by then.
   */
  readonly deliveryMaxAgeMs?: number;
  /** Largest size of each stream on disk, in bytes; DEFAULT_STREAM_MAX_BYTES for those not named. */
  readonly maxBytes?: Partial<StreamMaxBytes>;
}

/** The size limit of each stream, in bytes. */
export interface StreamMaxBytes {
  readonly events: number;
  readonly deadLetters: number;
  readonly usage: number;
  readonly delivery: number;
  readonly notifications: number;
}

const GIB = 1024 ** 3;

/**
 * Every stream is bounded, so a flood (of usage, of dead letters) cannot fill the NATS disk
 * and stop the other streams. NATS reserves each stream's max_bytes against its store when the
 * stream is created, so the defaults add up to 14.25 GiB: within the 20 GiB volume of
 * deploy/nats, with room for the consumers' state.
 */
export const DEFAULT_STREAM_MAX_BYTES: StreamMaxBytes = {
  events: 8 * GIB,
  deadLetters: 1 * GIB,
  usage: 4 * GIB,
  delivery: 1 * GIB,
  notifications: GIB / 4,
};

export const DEFAULT_USAGE_MAX_AGE_MS = 7 * 24 * 3_600_000;
export const DEFAULT_DELIVERY_MAX_AGE_MS = 24 * 3_600_000;
/** Incident notifications are kept a week: for a bridge to chat or paging that was down, not as the record (the store has it). */
export const NOTIFICATION_MAX_AGE_MS = 7 * 24 * 3_600_000;

export const DEFAULT_EVENT_STREAM_SETTINGS: EventStreamSettings = { duplicateWindowMs: 10 * 60_000, replicas: 1, maxAgeMs: 0 };

const STREAM_NOT_FOUND = 10059;

/**
 * Creates the event, dead-letter, usage, delivery and notification streams, or brings their settings up to date.
 * Uses only options NATS 2.9 understands.
 */
export async function ensureEventStreams(
  jsm: JetStreamManager,
  topology: BusTopology,
  settings: EventStreamSettings = DEFAULT_EVENT_STREAM_SETTINGS,
): Promise<void> {
  const maxBytes = { ...DEFAULT_STREAM_MAX_BYTES, ...settings.maxBytes };
  const common = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    num_replicas: settings.replicas,
    max_age: nanos(settings.maxAgeMs),
    duplicate_window: nanos(settings.duplicateWindowMs),
  };
  // Full, the event stream refuses new events rather than dropping old ones: a durable consumer
  // (the audit trail, the rotator's incidents) reads only the stream and cannot catch up from
  // Postgres on its own, so an event dropped before it was consumed would be lost to it. A refused
  // publish is not confirmed, so the relay keeps the event in its outbox and retries it.
  await upsertStream(jsm, {
    ...common,
    name: topology.eventStream,
    subjects: [topology.eventSubjects],
    discard: DiscardPolicy.New,
    max_bytes: maxBytes.events,
  });
  // Dead letters are kept for inspection: the newest failures matter most, and each was also
  // logged and counted when it was dead-lettered.
  await upsertStream(jsm, {
    ...common,
    name: topology.deadLetterStream,
    subjects: [topology.deadLetterSubjects],
    discard: DiscardPolicy.Old,
    max_bytes: maxBytes.deadLetters,
  });
  // Full, the usage stream refuses batches the auditor has not stored yet rather than dropping
  // them unseen: the verifiers retry, and what their bounded buffers cannot hold is counted
  // (keyledger_usage_dropped_total).
  await upsertStream(jsm, {
    ...common,
    name: topology.usageStream,
    subjects: [topology.usageSubjects],
    discard: DiscardPolicy.New,
    max_bytes: maxBytes.usage,
    max_age: nanos(settings.usageMaxAgeMs ?? DEFAULT_USAGE_MAX_AGE_MS),
  });
  // A refused delivery stays pending in Postgres and is sent again until acknowledged.
  await upsertStream(jsm, {
    ...common,
    name: topology.deliveryStream,
    subjects: [topology.deliverySubjects],
    discard: DiscardPolicy.New,
    max_bytes: maxBytes.delivery,
    max_age: nanos(settings.deliveryMaxAgeMs ?? DEFAULT_DELIVERY_MAX_AGE_MS),
  });
  // Notifications are a courtesy copy for bridges (the store holds the incidents): the oldest go first.
  await upsertStream(jsm, {
    ...common,
    name: topology.notificationStream,
    subjects: [topology.notificationSubjects],
    discard: DiscardPolicy.Old,
    max_bytes: maxBytes.notifications,
    max_age: nanos(NOTIFICATION_MAX_AGE_MS),
  });
}

async function upsertStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND) {
      await jsm.streams.add(config);
      return;
    }
    throw error;
  }
  await jsm.streams.update(config.name, config);
}

/** Removes the streams; for tests and for tearing an installation down. */
export async function deleteEventStreams(jsm: JetStreamManager, topology: BusTopology): Promise<void> {
  for (const name of [topology.eventStream, topology.deadLetterStream, topology.usageStream, topology.deliveryStream, topology.notificationStream]) {
    try {
      await jsm.streams.delete(name);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND)) throw error;
    }
  }
}
