import type { Metadata } from '@grpc/grpc-js';
import { ROOT_CONTEXT, SpanKind, propagation } from '@opentelemetry/api';
import type { TextMapGetter } from '@opentelemetry/api';
import type { ReadableHeaders } from '@keyledger/event-bus';
import { traceContextFromHeaders } from '@keyledger/event-bus';
import { inSpan } from '@keyledger/observability';

const metadataGetter: TextMapGetter<Metadata | undefined> = {
  get: (carrier, key) => {
    const values = (carrier?.get(key) ?? []).filter((value): value is string => typeof value === 'string');
    return values.length > 0 ? values : undefined;
  },
  keys: (carrier) => Object.keys(carrier?.getMap() ?? {}),
};

/**
 * Runs a gRPC method in a SERVER span that continues the caller's trace (W3C `traceparent`
 * metadata, or whatever the configured propagators read). Spans carry names and codes, never
 * the request: it may hold a key.
 */
export function inGrpcServerSpan<T>(service: string, method: string, metadata: Metadata | undefined, handle: () => Promise<T> | T): Promise<T> {
  return inSpan(
    `${service}/${method}`,
    {
      kind: SpanKind.SERVER,
      parent: propagation.extract(ROOT_CONTEXT, metadata, metadataGetter),
      attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method },
    },
    handle,
  );
}

/** Runs a NATS request handler in a SERVER span that continues the requester's trace (from its headers). */
export function inNatsServerSpan<T>(subject: string, headers: ReadableHeaders | undefined, handle: () => Promise<T> | T): Promise<T> {
  return inSpan(
    `process ${subject}`,
    {
      kind: SpanKind.SERVER,
      parent: traceContextFromHeaders(headers),
      attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'process', 'messaging.destination.name': subject },
    },
    handle,
  );
}
