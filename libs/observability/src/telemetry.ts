import { NodeSDK } from '@opentelemetry/sdk-node';

/**
 * Starts OpenTelemetry for a service process. Everything is configured by the standard
 * OTEL_* variables (exporter, endpoint, sampler); with none set, traces are not exported,
 * so a laptop run does not spam a missing collector.
 */
export function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv): NodeSDK | undefined {
  if (env['OTEL_SDK_DISABLED'] === 'true') return undefined;
  if (!env['OTEL_TRACES_EXPORTER'] && !env['OTEL_EXPORTER_OTLP_ENDPOINT'] && !env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) return undefined;
  const sdk = new NodeSDK({ serviceName: env['OTEL_SERVICE_NAME'] ?? serviceName });
  sdk.start();
  return sdk;
}
