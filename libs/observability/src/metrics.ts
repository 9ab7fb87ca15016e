import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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

/**
 * A counter read from a running total when scraped: the code that counts only adds to a
 * plain number (cheap on hot paths), and the counter catches up at each scrape.
 */
export function scrapedCounter(registry: Registry, name: string, help: string, total: () => number): void {
  let reported = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = total();
      this.inc(value - reported);
      reported = value;
    },
  });
}

/** A gauge read when scraped. */
export function scrapedGauge(registry: Registry, name: string, help: string, value: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(value());
    },
  });
}
