import { assertSubjectPrefix, deadLetterFilter, eventSubjectFilter } from '@keyledger/contracts';

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
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function busTopology(subjectPrefix: string, eventStream: string): BusTopology {
  assertSubjectPrefix(subjectPrefix);
  if (!STREAM_NAME.test(eventStream)) throw new RangeError(`invalid JetStream stream name ${JSON.stringify(eventStream)}`);
  return {
    subjectPrefix,
    eventStream,
    eventSubjects: eventSubjectFilter(subjectPrefix),
    deadLetterStream: `${eventStream}_DLQ`,
    deadLetterSubjects: deadLetterFilter(subjectPrefix),
  };
}
