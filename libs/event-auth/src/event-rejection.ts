import type { EventRejectionReason, EventRejectionSource } from '@keyledger/contracts';
import type { EventAuthenticator } from './event-authenticator.js';

/**
 * An event a Keyledger process refused: never applied, never published, never returned as an
 * event. Identifies it (as far as it could be read) and says why; carries none of its data.
 */
export interface EventRejection {
  readonly source: EventRejectionSource;
  readonly reason: EventRejectionReason;
  readonly eventId?: string | undefined;
  readonly streamId?: string | undefined;
  readonly streamVersion?: number | undefined;
  readonly position?: string | undefined;
  /** The NATS subject it came on (source `bus`). */
  readonly subject?: string | undefined;
  /** What exactly did not fit (field names, never values). */
  readonly detail: string;
}

/**
 * Where refusals go, in one place per process (`EventRejections`, libs/event-bus: counted,
 * logged, alerted). The store's reads and the bus decoder report every refusal here.
 */
export interface EventRejectionSink {
  reject(rejection: EventRejection): void;
}

/** How a process authenticates the events it writes and reads, and where it reports what it refuses. */
export interface EventAuthentication {
  readonly authenticator: EventAuthenticator;
  readonly rejections: EventRejectionSink;
}
