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
}

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
  const common = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: settings.replicas,
    max_age: nanos(settings.maxAgeMs),
    duplicate_window: nanos(settings.duplicateWindowMs),
  };
  await upsertStream(jsm, { ...common, name: topology.eventStream, subjects: [topology.eventSubjects] });
  await upsertStream(jsm, { ...common, name: topology.deadLetterStream, subjects: [topology.deadLetterSubjects] });
  await upsertStream(jsm, {
    ...common,
    name: topology.usageStream,
    subjects: [topology.usageSubjects],
    max_age: nanos(settings.usageMaxAgeMs ?? DEFAULT_USAGE_MAX_AGE_MS),
  });
  await upsertStream(jsm, {
    ...common,
    name: topology.deliveryStream,
    subjects: [topology.deliverySubjects],
    max_age: nanos(settings.deliveryMaxAgeMs ?? DEFAULT_DELIVERY_MAX_AGE_MS),
  });
  await upsertStream(jsm, { ...common, name: topology.notificationStream, subjects: [topology.notificationSubjects], max_age: nanos(NOTIFICATION_MAX_AGE_MS) });
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
