import { ROOT_CONTEXT, SpanStatusCode, context, createTraceState, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, SpanKind } from '@opentelemetry/api';

/**
 * Manual spans for the libraries, through `@opentelemetry/api` only: without a started SDK
 * (no OTEL_* exporter configured) every call here is a no-op costing almost nothing.
 */
export const tracer = trace.getTracer('keyledger');

/** W3C `traceparent`: version, 32 hex trace id, 16 hex span id, 2 hex flags; version ff is invalid. */
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The trace context of event metadata, as W3C Trace Context fields. */
export interface TraceContextFields {
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

/**
 * The W3C fields of the span active in `ctx` (none without a valid span). Written directly
 * rather than through the configured propagator: event metadata holds W3C fields whatever
 * propagators the transports use.
 */
export function traceContextFields(ctx: Context = context.active()): { traceparent?: string; tracestate?: string } {
  const spanContext = trace.getSpanContext(ctx);
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  const tracestate = spanContext.traceState?.serialize();
  return { traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`, ...(tracestate ? { tracestate } : {}) };
}

/** A context whose (remote) parent is the span named by W3C fields; ROOT_CONTEXT when absent or malformed. */
export function contextFromTraceFields(fields: TraceContextFields | undefined): Context {
  const match = fields?.traceparent ? TRACEPARENT.exec(fields.traceparent) : null;
  if (!match) return ROOT_CONTEXT;
  const spanContext = {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: parseInt(match[3]!, 16),
    isRemote: true,
    ...(fields?.tracestate ? { traceState: createTraceState(fields.tracestate) } : {}),
  };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

export interface SpanSettings {
  readonly kind: SpanKind;
  readonly attributes?: Attributes;
  /** The parent; defaults to the active context. */
  readonly parent?: Context;
}

/**
 * Runs `work` in a new active span and ends it when the work settles. A failure marks the
 * span as an error with `error.type` = the error's code or name only: messages can quote
 * request values, and no secret may reach an exported span.
 */
export async function inSpan<T>(name: string, settings: SpanSettings, work: (span: Span) => Promise<T> | T): Promise<T> {
  const parent = settings.parent ?? context.active();
  return tracer.startActiveSpan(name, { kind: settings.kind, ...(settings.attributes ? { attributes: settings.attributes } : {}) }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed with the error's stable code (or class name), never its message. */
export function markFailed(span: Span, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  const type = typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error';
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}
