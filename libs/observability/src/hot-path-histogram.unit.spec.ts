import { Histogram, Registry } from 'prom-client';
import { HotPathHistogram } from './hot-path-histogram.js';

const BUCKETS = [0.001, 0.01, 0.1];

/** Exposition lines with each line's labels sorted: label order carries no meaning. */
const normalised = (text: string): string[] =>
  text
    .split('\n')
    .map((line) => line.replace(/\{([^}]*)\}/, (_, labels: string) => `{${labels.split(',').sort().join(',')}}`))
    .sort();

describe('HotPathHistogram', () => {
  it('exposes exactly what a prom-client Histogram exposes for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    for (const registry of [ours, theirs]) registry.setDefaultLabels({ service: 'test' });
    const hot = new HotPathHistogram('verify_seconds', 'Time to verify', BUCKETS, ours);
    const reference = new Histogram({ name: 'verify_seconds', help: 'Time to verify', labelNames: ['transport'], buckets: BUCKETS, registers: [theirs] });
    const observations: [string, number][] = [
      ['http', 0.0005],
      ['http', 0.001],
      ['http', 0.05],
      ['nats', 0.5],
      ['nats', 0.002],
      ['http', 7],
    ];
    const children = { http: hot.child({ transport: 'http' }), nats: hot.child({ transport: 'nats' }) };
    for (const [transport, value] of observations) {
      children[transport as 'http' | 'nats'].observe(value);
      reference.observe({ transport }, value);
    }
    expect(normalised(await ours.metrics())).toEqual(normalised(await theirs.metrics()));
    hot.reset();
    reference.reset();
    // prom-client drops a reset series; ours keeps it at zero, which Prometheus reads the same way.
    expect(await ours.metrics()).toContain('verify_seconds_count{transport="http",service="test"} 0');
  });

  it('refuses buckets that do not increase', () => {
    expect(() => new HotPathHistogram('x_seconds', 'x', [0.1, 0.1], new Registry())).toThrow(RangeError);
  });
});
