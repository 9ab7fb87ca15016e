import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { ServiceEnv } from '@keyledger/config';
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

/** The settings of the streams as a process's configuration names them (`KEYLEDGER_*STREAM*`, docs/configuration.md). */
export function eventStreamSettings(
  config: Pick<
    ServiceEnv,
    | 'KEYLEDGER_DUPLICATE_WINDOW_MS'
    | 'KEYLEDGER_STREAM_REPLICAS'
    | 'KEYLEDGER_USAGE_STREAM_MAX_AGE_MS'
    | 'KEYLEDGER_DELIVERY_STREAM_MAX_AGE_MS'
    | 'KEYLEDGER_EVENT_STREAM_MAX_BYTES'
    | 'KEYLEDGER_DLQ_STREAM_MAX_BYTES'
    | 'KEYLEDGER_USAGE_STREAM_MAX_BYTES'
    | 'KEYLEDGER_DELIVERY_STREAM_MAX_BYTES'
    | 'KEYLEDGER_NOTIFICATION_STREAM_MAX_BYTES'
  >,
): EventStreamSettings {
  return {
    duplicateWindowMs: config.KEYLEDGER_DUPLICATE_WINDOW_MS,
    replicas: config.KEYLEDGER_STREAM_REPLICAS,
    maxAgeMs: 0,
    usageMaxAgeMs: config.KEYLEDGER_USAGE_STREAM_MAX_AGE_MS,
    deliveryMaxAgeMs: config.KEYLEDGER_DELIVERY_STREAM_MAX_AGE_MS,
    maxBytes: {
      events: config.KEYLEDGER_EVENT_STREAM_MAX_BYTES,
      deadLetters: config.KEYLEDGER_DLQ_STREAM_MAX_BYTES,
      usage: config.KEYLEDGER_USAGE_STREAM_MAX_BYTES,
      delivery: config.KEYLEDGER_DELIVERY_STREAM_MAX_BYTES,
      notifications: config.KEYLEDGER_NOTIFICATION_STREAM_MAX_BYTES,
    },
  };
}

/** A stream's configuration as Keyledger sets it: every field named here is checked against the server's. */
export type EventStreamConfig = Pick<
  StreamConfig,
  'name' | 'subjects' | 'storage' | 'retention' | 'num_replicas' | 'max_age' | 'duplicate_window' | 'discard' | 'max_bytes'
>;

/**
 * The event, dead-letter, usage, delivery and notification streams as these settings describe them.
 * Uses only options NATS 2.9 understands.
 */
export function eventStreamConfigs(topology: BusTopology, settings: EventStreamSettings = DEFAULT_EVENT_STREAM_SETTINGS): EventStreamConfig[] {
  const maxBytes = { ...DEFAULT_STREAM_MAX_BYTES, ...settings.maxBytes };
  const common = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    num_replicas: settings.replicas,
    max_age: nanos(settings.maxAgeMs),
    duplicate_window: nanos(settings.duplicateWindowMs),
  };
  return [
    // Full, the event stream refuses new events rather than dropping old ones: a durable consumer
    // (the audit trail, the rotator's incidents) reads only the stream and cannot catch up from
    // Postgres on its own, so an event dropped before it was consumed would be lost to it. A refused
    // publish is not confirmed, so the relay keeps the event in its outbox and retries it.
    { ...common, name: topology.eventStream, subjects: [topology.eventSubjects], discard: DiscardPolicy.New, max_bytes: maxBytes.events },
    // Dead letters are kept for inspection: the newest failures matter most, and each was also
    // logged and counted when it was dead-lettered.
    { ...common, name: topology.deadLetterStream, subjects: [topology.deadLetterSubjects], discard: DiscardPolicy.Old, max_bytes: maxBytes.deadLetters },
    // Full, the usage stream refuses batches the auditor has not stored yet rather than dropping
    // them unseen: the verifiers retry, and what their bounded buffers cannot hold is counted
    // (keyledger_usage_dropped_total).
    {
      ...common,
      name: topology.usageStream,
      subjects: [topology.usageSubjects],
      discard: DiscardPolicy.New,
      max_bytes: maxBytes.usage,
      max_age: nanos(settings.usageMaxAgeMs ?? DEFAULT_USAGE_MAX_AGE_MS),
    },
    // A refused delivery stays pending in Postgres and is sent again until acknowledged.
    {
      ...common,
      name: topology.deliveryStream,
      subjects: [topology.deliverySubjects],
      discard: DiscardPolicy.New,
      max_bytes: maxBytes.delivery,
      max_age: nanos(settings.deliveryMaxAgeMs ?? DEFAULT_DELIVERY_MAX_AGE_MS),
    },
    // Notifications are a courtesy copy for bridges (the store holds the incidents): the oldest go first.
    {
      ...common,
      name: topology.notificationStream,
      subjects: [topology.notificationSubjects],
      discard: DiscardPolicy.Old,
      max_bytes: maxBytes.notifications,
      max_age: nanos(NOTIFICATION_MAX_AGE_MS),
    },
  ];
}

/** How each field of `expected` differs on the server (`actual`), one phrase each; empty when it is as expected. */
export function streamConfigDifferences(expected: EventStreamConfig, actual: Partial<StreamConfig>): string[] {
  return (Object.keys(expected) as (keyof EventStreamConfig)[])
    .filter((field) => JSON.stringify(actual[field]) !== JSON.stringify(expected[field]))
    .map((field) => `${field} is ${JSON.stringify(actual[field]) ?? 'unset'}, expected ${JSON.stringify(expected[field])}`);
}

/**
 * A stream that is missing, or configured otherwise than this process's settings say, where the
 * process may not configure streams: only the migrate job's NATS user may create or update them.
 */
export class EventStreamNotReady extends Error {
  readonly code = 'EVENT_STREAM_NOT_READY';

  constructor(
    readonly stream: string,
    /** Undefined: the stream does not exist. */
    readonly differences: readonly string[] | undefined,
  ) {
    super(
      `${differences === undefined ? `stream ${stream} does not exist` : `stream ${stream} differs from this configuration (${differences.join('; ')})`}: ` +
        'run `keyledger migrate` with the same stream settings; it alone configures the streams',
    );
    this.name = 'EventStreamNotReady';
  }
}

/** What ensureEventStreams found or did, per stream. */
export interface EventStreamOutcome {
  readonly stream: string;
  readonly outcome: 'created' | 'updated' | 'unchanged';
}

/**
 * Checks that each stream exists as the settings describe it. With `configure` (the migrate job,
 * or a service on a NATS without users) it creates a missing stream and updates one that differs;
 * without it, a missing or different stream is an EventStreamNotReady and nothing is changed.
 */
export async function ensureEventStreams(
  jsm: JetStreamManager,
  topology: BusTopology,
  settings: EventStreamSettings = DEFAULT_EVENT_STREAM_SETTINGS,
  upkeep: { readonly configure: boolean } = { configure: true },
): Promise<EventStreamOutcome[]> {
  const outcomes: EventStreamOutcome[] = [];
  for (const expected of eventStreamConfigs(topology, settings)) {
    const actual = await streamConfig(jsm, expected.name);
    const differences = actual && streamConfigDifferences(expected, actual);
    if (differences?.length === 0) {
      outcomes.push({ stream: expected.name, outcome: 'unchanged' });
      continue;
    }
    if (!upkeep.configure) throw new EventStreamNotReady(expected.name, differences);
    if (actual === undefined) await jsm.streams.add(expected);
    else await jsm.streams.update(expected.name, expected);
    outcomes.push({ stream: expected.name, outcome: actual === undefined ? 'created' : 'updated' });
  }
  return outcomes;
}

/** The server's configuration of a stream, or undefined when there is no such stream. */
async function streamConfig(jsm: JetStreamManager, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND) return undefined;
    throw error;
  }
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
