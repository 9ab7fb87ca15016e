import type { Metric, MetricObjectWithValues, MetricType, MetricValueWithName, Registry } from 'prom-client';

/** One label set's series of a HotPathHistogram. */
export interface HotPathObserver {
  observe(value: number): void;
}

/**
 * A Prometheus histogram for paths that run hundreds of thousands of times a second.
 * prom-client's Histogram validates and hashes the labels on every observation, which costs
 * more than the verification it would time; here each label set gets its own bucket array
 * up front, an observation is a bucket search and two additions, and the exposition is
 * built only when scraped (the same text prom-client writes, tested).
 */
export class HotPathHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    if (buckets.some((bound, i) => i > 0 && bound <= buckets[i - 1]!)) throw new RangeError('histogram buckets must increase');
    registry.registerMetric(this as unknown as Metric);
  }

  /** The observer of one label set; resolve it once and keep it. */
  child(labels: Record<string, string>): HotPathObserver {
    const series = { labels, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
    this.series.push(series);
    const bounds = this.buckets;
    return {
      observe(value: number): void {
        series.sum += value;
        series.count += 1;
        for (let i = 0; i < bounds.length; i += 1) {
          if (value <= bounds[i]!) {
            series.counts[i]! += 1;
            return;
          }
        }
      },
    };
  }

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const { labels, counts, sum, count } of this.series) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += counts[i]!;
        values.push({ labels: { ...labels, le: bound }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    // prom-client's typings declare a numeric enum, but its registry writes the type string.
    const type = this.type as unknown as MetricType;
    return Promise.resolve({ name: this.name, help: this.help, type, values, aggregator: this.aggregator, collect: () => undefined });
  }

  reset(): void {
    for (const series of this.series) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
