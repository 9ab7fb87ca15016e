import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** How often the event-loop delay is sampled (ms). */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * One Prometheus registry per process, with Node's default metrics and a `service` label on
 * every series. Components add their own metrics to it; `/metrics` exposes it.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // The event-loop delay histogram samples with a timer; at prom-client's default 10 ms it wakes
  // an idle process 100 times a second, about 0.3 % of a core each. Every 100 ms still catches
  // any stall that matters to a p99 in milliseconds.
  collectDefaultMetrics({ register: registry, prefix: 'keyledger_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
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

/**
 * scrapedCounter with labels: `totals` gives each label set seen so far with its running
 * total, and the counter catches up on each of them at a scrape.
 */
export function scrapedLabelledCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  totals: () => Iterable<readonly [Readonly<Record<L, string>>, number]>,
): void {
  const reported = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, total] of totals()) {
        const key = labelNames.map((label) => labels[label]).join('\u0000');
        this.inc(labels, total - (reported.get(key) ?? 0));
        reported.set(key, total);
      }
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
