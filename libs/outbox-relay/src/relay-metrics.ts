import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { EventEnvelope } from '@keyledger/contracts';
import type { OutboxRelay } from './outbox-relay.js';

export interface RelayMetrics {
  /** Pass to the relay: counts published events and observes their lag. */
  readonly onPublished: (events: readonly EventEnvelope[]) => void;
  /** The relay whose leadership and failures the gauges read. */
  watch(relay: OutboxRelay): void;
}

/** The relay's metrics: events published, lag from the command's time to JetStream's ack, leadership, failures. */
export function relayMetrics(registry: Registry, clock: () => number = Date.now): RelayMetrics {
  let watched: OutboxRelay | undefined;
  const published = new Counter({ name: 'keyledger_relay_published_total', help: 'Events published to JetStream', registers: [registry] });
  const lag = new Histogram({
    name: 'keyledger_relay_lag_seconds',
    help: 'From the event being recorded to JetStream acknowledging it',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });
  new Gauge({
    name: 'keyledger_relay_leader',
    help: '1 on the relay that currently publishes',
    registers: [registry],
    collect() {
      this.set(watched?.status().leader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'keyledger_relay_consecutive_failures',
    help: 'Publishing rounds that failed in a row',
    registers: [registry],
    collect() {
      this.set(watched?.status().consecutiveFailures ?? 0);
    },
  });
  return {
    onPublished: (events) => {
      const now = clock();
      published.inc(events.length);
      for (const event of events) lag.observe(Math.max(0, now - Date.parse(event.occurredAt)) / 1000);
    },
    watch: (relay) => {
      watched = relay;
    },
  };
}
