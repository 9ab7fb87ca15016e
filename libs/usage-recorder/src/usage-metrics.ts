import type { Registry } from '@keyledger/observability';
import { scrapedCounter, scrapedGauge } from '@keyledger/observability';
import type { UsageBuffer, UsageBufferCounts } from './usage-buffer.js';

/**
 * The recording side's metrics, read from the buffer's counters at scrape time (the verify
 * path only adds to plain numbers). `keyledger_usage_dropped_total` must stay at 0.
 */
export function registerUsageMetrics(registry: Registry, buffer: Pick<UsageBuffer, 'counts'>): void {
  const counter = (name: string, help: string, pick: (counts: UsageBufferCounts) => number): void =>
    scrapedCounter(registry, name, help, () => pick(buffer.counts()));
  counter('keyledger_usage_dropped_total', 'Usage records dropped: the buffer was full, or still unpublished at shutdown', (c) => c.dropped);
  counter('keyledger_usage_published_total', 'Usage records stored in the usage stream', (c) => c.published);
  counter('keyledger_usage_batches_total', 'Usage batches stored in the usage stream', (c) => c.batches);
  counter('keyledger_usage_publish_failures_total', 'Failed usage batch publishes (each is retried)', (c) => c.publishFailures);
  scrapedGauge(registry, 'keyledger_usage_buffered_records', 'Usage records waiting to be published', () => {
    const { queued, inFlight } = buffer.counts();
    return queued + inFlight;
  });
}
