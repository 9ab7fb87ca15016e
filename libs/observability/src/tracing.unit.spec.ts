import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { contextFromTraceFields, traceContextFields } from './tracing.js';

describe('trace context in event metadata', () => {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('reads W3C fields as a remote parent and writes the same fields back', () => {
    const ctx = contextFromTraceFields({ traceparent, tracestate: 'vendor=a,other=b' });
    expect(trace.getSpanContext(ctx)).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    expect(traceContextFields(ctx)).toEqual({ traceparent, tracestate: 'vendor=a,other=b' });
  });

  it('keeps the sampled flag off when the caller did not sample', () => {
    const unsampled = traceparent.replace(/-01$/, '-00');
    expect(traceContextFields(contextFromTraceFields({ traceparent: unsampled }))).toEqual({ traceparent: unsampled });
  });

  it('reads a later version as version 00 and writes version 00', () => {
    expect(traceContextFields(contextFromTraceFields({ traceparent: traceparent.replace(/^00/, '01') }))).toEqual({ traceparent });
  });

  it('gives no parent for absent, malformed or all-zero trace context', () => {
    for (const fields of [
      undefined,
      {},
      { traceparent: 'garbage' },
      { traceparent: traceparent.toUpperCase() },
      { traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' },
    ]) {
      expect(contextFromTraceFields(fields)).toBe(ROOT_CONTEXT);
    }
    expect(traceContextFields(ROOT_CONTEXT)).toEqual({});
  });
});
