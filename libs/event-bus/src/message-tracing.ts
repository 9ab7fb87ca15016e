import { ROOT_CONTEXT, SpanKind, propagation } from '@opentelemetry/api';
import type { Context, Span, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import type { ConsumerMessages, Consumers, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { MESSAGE_HEADERS } from '@keyledger/contracts';
import { tracer } from '@keyledger/observability';

/** What propagation reads of NATS headers; Nest's NatsContext hands over the same shape. */
export interface ReadableHeaders {
  get(name: string): string;
  keys(): string[];
}

const headerGetter: TextMapGetter<ReadableHeaders | undefined> = {
  // NATS answers '' for a missing header; propagators expect undefined.
  get: (carrier, key) => carrier?.get(key) || undefined,
  keys: (carrier) => carrier?.keys() ?? [],
};

const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** The trace context carried by NATS message headers (the configured propagators, W3C by default). */
export function traceContextFromHeaders(headers: ReadableHeaders | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers, headerGetter);
}

/** Writes `ctx`'s trace context into NATS message headers, replacing what they carried. */
export function injectTraceContext(ctx: Context, headers: MsgHdrs): void {
  propagation.inject(ctx, headers, headerSetter);
}

/** An event message as a consumer receives it. */
export interface DeliveredMessage {
  readonly subject: string;
  readonly headers?: ReadableHeaders | undefined;
  readonly info?: { readonly deliveryCount: number } | undefined;
}

/**
 * Starts the CONSUMER span of one delivered event message, parented from the trace context
 * in its headers (the relay's publish span), so a consumer's work joins the command's trace.
 */
export function startDeliverySpan(consumer: string, message: DeliveredMessage): Span {
  const header = (name: string): string | undefined => message.headers?.get(name) || undefined;
  return tracer.startSpan(
    `process ${message.subject}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'messaging.destination.name': message.subject,
        'messaging.consumer.group.name': consumer,
        ...optional('messaging.message.id', header(MESSAGE_HEADERS.msgId)),
        ...optional('keyledger.event.type', header(MESSAGE_HEADERS.eventType)),
        ...(message.info ? { 'keyledger.delivery_count': message.info.deliveryCount } : {}),
      },
    },
    traceContextFromHeaders(message.headers),
  );
}

function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}

/**
 * A JetStream client whose consumers' `consume()` iterators trace every delivery with a
 * span from `startDeliverySpan`, ended when the loop asks for the next message. For loops
 * that process each message before pulling the next (`for await (const m of messages)
 * apply(m)`), that span covers exactly the processing, without the loop knowing about
 * tracing. Everything else is the client itself.
 */
export function tracingConsumers(js: JetStreamClient, consumer: string): JetStreamClient {
  const consumers = forward(js.consumers, {
    get:
      (target: Consumers): Consumers['get'] =>
      async (...args) => {
        const inner = await target.get(...args);
        return forward(inner, {
          consume:
            (source: typeof inner): typeof inner.consume =>
            async (...options) =>
              tracedIteration(await source.consume(...options), consumer),
        });
      },
  });
  return forward(js, { consumers: () => consumers });
}

function tracedIteration(messages: ConsumerMessages, consumer: string): ConsumerMessages {
  async function* traced(): AsyncGenerator<JsMsg> {
    for await (const message of messages) {
      const span = startDeliverySpan(consumer, message);
      try {
        yield message;
      } finally {
        span.end();
      }
    }
  }
  return forward(messages, { [Symbol.asyncIterator]: () => () => traced() });
}

/** A view of `target` with some members replaced; the others are the target's own, bound to it. */
function forward<T extends object>(target: T, overrides: Partial<Record<PropertyKey, (target: T) => unknown>>): T {
  return new Proxy(target, {
    get(object, property) {
      const override = overrides[property];
      if (override) return override(object);
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}
