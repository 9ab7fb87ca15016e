import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry per process, with Node's default metrics and a `service` label on
 * every series. Components add their own metrics to it; `/metrics` exposes it.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'keyledger_' });
  return registry;
}

export type { Registry };
