import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { LiveKeyProjection } from './live-key-projection.js';

/** Exposes a projection's freshness: keys held, events behind the store, time without NATS. */
export function registerProjectionMetrics(registry: Registry, projection: LiveKeyProjection): void {
  const read = (pick: (status: ReturnType<LiveKeyProjection['status']>) => number) =>
    function (this: Gauge) {
      this.set(pick(projection.status()));
    };
  new Gauge({ name: 'keyledger_projection_keys', help: 'Keys held in memory', registers: [registry], collect: read((s) => s.keys) });
  new Gauge({
    name: 'keyledger_projection_behind_events',
    help: 'Events in the store not yet applied (capped at 10,000; -1 before the first measurement)',
    registers: [registry],
    collect: read((s) => s.behindStore ?? -1),
  });
  new Gauge({
    name: 'keyledger_projection_bus_silent_seconds',
    help: 'Seconds since NATS was lost (0 while connected)',
    registers: [registry],
    collect: read((s) => (Number.isFinite(s.busSilentForMs) ? s.busSilentForMs / 1000 : -1)),
  });
  new Gauge({
    name: 'keyledger_projection_staleness_seconds',
    help: "Age of the store state applied, by the relay's heartbeats (-1 before the first head applied, or when not judged)",
    registers: [registry],
    collect: read((s) => (typeof s.stalenessMs === 'number' ? s.stalenessMs / 1000 : -1)),
  });
  new Gauge({
    name: 'keyledger_projection_failing_closed',
    help: '1 while verification fails closed',
    registers: [registry],
    collect: read((s) => (s.failingClosed ? 1 : 0)),
  });
}
