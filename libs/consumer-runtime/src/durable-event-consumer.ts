import type { DataSource } from 'typeorm';
import type { EventEnvelope } from '@keyledger/contracts';
import { eventSubjectFilter } from '@keyledger/contracts';
import type { EventAuthentication } from '@keyledger/event-auth';
import { EventMessageReader } from '@keyledger/event-bus';
import type { MessageHandler } from './consumer-mode.js';
import type { ConsumerSettings, DurableConsumerDependencies } from './durable-consumer.js';
import { DurableConsumer } from './durable-consumer.js';
import { applyOnce } from './inbox.js';
import type { Projection } from './projection.js';
import { DEFAULT_REDELIVERY_POLICY } from './redelivery-policy.js';

export interface DurableEventConsumerDependencies extends DurableConsumerDependencies {
  readonly dataSource: DataSource;
  readonly projection: Projection;
  /** Every message is read through an EventMessageReader with it: sealed by the relay, or skipped and reported. */
  readonly auth: EventAuthentication;
}

export interface DurableEventConsumerSettings extends ConsumerSettings {
  /** Messages buffered from the server at once. */
  readonly prefetch: number;
}

export const DEFAULT_CONSUMER_SETTINGS: DurableEventConsumerSettings = { redelivery: DEFAULT_REDELIVERY_POLICY, ackWaitMs: 30_000, prefetch: 64 };

/**
 * Feeds a projection from the event stream: a `DurableConsumer` in single-message mode named
 * after the projection and filtered by its category.
 *
 * Each message is read through the bus's one decode-and-verify (`EventMessageReader`): one
 * that is not an authentic, valid event is reported, acked and skipped, never applied. Each
 * event is applied in one Postgres transaction with its inbox row (`applyOnce`), then acked;
 * a redelivered event the inbox knows is acked as a duplicate. A failure is nak'ed with
 * backoff; on the last allowed delivery it is dead-lettered.
 */
export class DurableEventConsumer extends DurableConsumer<EventEnvelope> {
  constructor(deps: DurableEventConsumerDependencies, settings: DurableEventConsumerSettings = DEFAULT_CONSUMER_SETTINGS) {
    const { dataSource, projection, topology } = deps;
    const reader = new EventMessageReader(topology.subjectPrefix, deps.auth);
    const handler: MessageHandler<EventEnvelope> = {
      decode: (data, subject) => reader.read(data, subject),
      id: (event) => event.eventId,
      occurredAt: (event) => event.occurredAt,
      handle: (event) => dataSource.transaction((manager) => applyOnce(manager, projection, event)),
    };
    super(
      deps,
      { name: projection.name, stream: topology.eventStream, filterSubject: eventSubjectFilter(topology.subjectPrefix, projection.category) },
      { kind: 'single', handler, prefetch: settings.prefetch },
      settings,
    );
  }
}
