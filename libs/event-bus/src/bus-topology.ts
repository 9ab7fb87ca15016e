import {
  assertSubjectPrefix,
  deadLetterFilter,
  deliverySubjectFilter,
  eventSubjectFilter,
  notificationSubjectFilter,
  usageSubject,
  usageSubjectFilter,
} from '@keyledger/contracts';

/**
 * Names of everything Keyledger creates on NATS. An installation (or a test run) is fully
 * described by a subject prefix and a stream name, so two never collide on one server.
 */
export interface BusTopology {
  readonly subjectPrefix: string;
  /** File-backed stream holding every event, published by the relay. */
  readonly eventStream: string;
  readonly eventSubjects: string;
  /** Stream holding messages that consumers gave up on, for inspection and replay. */
  readonly deadLetterStream: string;
  readonly deadLetterSubjects: string;
  /** File-backed stream of usage records (KeyUsed batches), published by the verifiers. */
  readonly usageStream: string;
  readonly usageSubjects: string;
  /** The subject verifiers publish usage batches on. */
  readonly usageSubject: string;
  /** Stream of keys sealed to their owners (`<event stream>_DELIVERY`), kept for a bounded time. */
  readonly deliveryStream: string;
  readonly deliverySubjects: string;
  /** Stream of incident notifications to tenants (`<event stream>_NOTIFICATIONS`), kept for a bounded time. */
  readonly notificationStream: string;
  readonly notificationSubjects: string;
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The names of an installation. The usage stream defaults to `<event stream>_USAGE`, so an
 * installation (or a test context) with its own event stream also has its own usage stream.
 */
export function busTopology(subjectPrefix: string, eventStream: string, usageStream = `${eventStream}_USAGE`): BusTopology {
  assertSubjectPrefix(subjectPrefix);
  for (const name of [eventStream, usageStream]) if (!STREAM_NAME.test(name)) throw new RangeError(`invalid JetStream stream name ${JSON.stringify(name)}`);
  return {
    subjectPrefix,
    eventStream,
    eventSubjects: eventSubjectFilter(subjectPrefix),
    deadLetterStream: `${eventStream}_DLQ`,
    deadLetterSubjects: deadLetterFilter(subjectPrefix),
    usageStream,
    usageSubjects: usageSubjectFilter(subjectPrefix),
    usageSubject: usageSubject(subjectPrefix),
    deliveryStream: `${eventStream}_DELIVERY`,
    deliverySubjects: deliverySubjectFilter(subjectPrefix),
    notificationStream: `${eventStream}_NOTIFICATIONS`,
    notificationSubjects: notificationSubjectFilter(subjectPrefix),
  };
}
