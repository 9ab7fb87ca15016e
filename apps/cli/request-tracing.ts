import type { MsgHdrs } from '@nats-io/transport-node';

/**
 * The CLI's side of a command's trace: each request to a service runs in a CLIENT span whose
 * context travels in the request's headers, so the issuer's handling, the store, the relay and
 * the projections join the trace that starts at the person's command.
 */
export interface RequestTracing {
  /** Runs `send` in a CLIENT span for `subject`, with that span's context written into `headers`. */
  around<T>(subject: string, headers: MsgHdrs, send: () => Promise<T>): Promise<T>;
  /**
   * Exports the spans still buffered, waiting up to `waitMs`: the CLI exits right after. Returns
   * why they could not be exported (the collector refused or did not answer in time), if so.
   */
  shutdown(waitMs: number): Promise<string | undefined>;
}

const UNTRACED: RequestTracing = {
  around: (_subject, _headers, send) => send(),
  shutdown: () => Promise.resolve(undefined),
};

/** `work`'s failure as text, or a note that it took longer than `waitMs`; undefined when it succeeded in time. */
async function problemWithin(work: Promise<unknown>, waitMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${waitMs} ms`), waitMs);
  });
  try {
    return await Promise.race([work.then(() => undefined), late]);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts tracing where the standard OTEL_* variables configure an exporter (as for the
 * services); otherwise requests go out untraced. The SDK is loaded only then: loading it takes
 * longer than most commands.
 */
export async function startRequestTracing(env: NodeJS.ProcessEnv): Promise<RequestTracing> {
  if (!Object.keys(env).some((name) => name.startsWith('OTEL_'))) return UNTRACED;
  const [{ startTelemetry, inSpan }, { injectTraceContext }, { SpanKind, context }] = await Promise.all([
    import('@keyledger/observability'),
    import('@keyledger/event-bus'),
    import('@opentelemetry/api'),
  ]);
  const sdk = startTelemetry('keyledger-cli', env);
  if (!sdk) return UNTRACED;
  return {
    // Names and subjects only: a request body may hold a key.
    around: (subject, headers, send) =>
      inSpan(
        `send ${subject}`,
        { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'send', 'messaging.destination.name': subject } },
        () => {
          injectTraceContext(context.active(), headers);
          return send();
        },
      ),
    shutdown: (waitMs) => problemWithin(sdk.shutdown(), waitMs),
  };
}
