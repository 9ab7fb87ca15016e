import { NodeSDK } from '@opentelemetry/sdk-node';

/**
 * Starts OpenTelemetry tracing for a service process. Everything is configured by the
 * standard OTEL_* variables (exporter, protocol, endpoint, sampler, batch delays); with no
 * exporter or endpoint set, nothing is started, so a laptop run does not spam a missing
 * collector. Spans come from the manual instrumentation in the libraries (`inSpan`).
 */
export function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv): NodeSDK | undefined {
  if (env['OTEL_SDK_DISABLED'] === 'true') return undefined;
  if (!env['OTEL_TRACES_EXPORTER'] && !env['OTEL_EXPORTER_OTLP_ENDPOINT'] && !env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) return undefined;
  const sdk = new NodeSDK({
    serviceName: env['OTEL_SERVICE_NAME'] ?? serviceName,
    // Metrics are Prometheus on /metrics and logs JSON lines on stdout. Left unset, the SDK
    // would also push both over OTLP; an explicit OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER still wins.
    ...(env['OTEL_METRICS_EXPORTER'] ? {} : { metricReaders: [] }),
    ...(env['OTEL_LOGS_EXPORTER'] ? {} : { logRecordProcessors: [] }),
  });
  sdk.start();
  return sdk;
}
