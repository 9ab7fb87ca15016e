import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RecordableHistogram } from 'node:perf_hooks';
import { EventLoopDelaySampler } from './event-loop-delay.js';

const PREFIX = 'keyledger_';

/** prom-client's event-loop delay figures, replaced by the sampler's under the same names. */
const DELAY_STATISTICS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/**
 * prom-client's own delay histogram cannot be left out of its default metrics; with this
 * period (about 24 days, the largest a timer takes) it never wakes the process.
 */
const NEVER_MS = 2 ** 31 - 1;

/** The event loop is the process's (one per thread), so is its sampler. */
let sampler: EventLoopDelaySampler | undefined;

/**
 * One Prometheus registry per process, with Node's default metrics and a `service` label on
 * every series. Components add their own metrics to it; `/metrics` exposes it.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: PREFIX, eventLoopMonitoringPrecision: NEVER_MS });
  for (const statistic of DELAY_STATISTICS) registry.removeSingleMetric(`${PREFIX}nodejs_eventloop_lag_${statistic}_seconds`);
  sampler ??= new EventLoopDelaySampler();
  sampler.start();
  eventLoopDelayGauges(registry, sampler.subscribe());
  return registry;
}

/**
 * The sampler's figures since this registry's last scrape, under prom-client's names, from a
 * histogram of the registry's own. The first gauge's collect reads and resets it for all of
 * them (a registry collects in the order metrics were registered); a scrape that finds no new
 * sample leaves the last figures.
 */
function eventLoopDelayGauges(registry: Registry, histogram: RecordableHistogram): void {
  const figures: Record<(typeof DELAY_STATISTICS)[number], number> = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
  const read = (): void => {
    if (histogram.count === 0) return;
    Object.assign(figures, {
      min: histogram.min,
      max: histogram.max,
      mean: histogram.mean,
      stddev: histogram.stddev,
      p50: histogram.percentile(50),
      p90: histogram.percentile(90),
      p99: histogram.percentile(99),
    });
    histogram.reset();
  };
  for (const statistic of DELAY_STATISTICS)
    new Gauge({
      name: `${PREFIX}nodejs_eventloop_lag_${statistic}_seconds`,
      help: `The ${statistic} of how late the event loop ran a timer since the last scrape (sampled every 100 ms while busy, every second while idle).`,
      registers: [registry],
      collect() {
        if (statistic === DELAY_STATISTICS[0]) read();
        this.set(figures[statistic] / 1e9);
      },
    });
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
