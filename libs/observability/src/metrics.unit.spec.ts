import { Registry } from 'prom-client';
import { scrapedCounter, scrapedGauge } from './metrics.js';

describe('scraped metrics', () => {
  it('reports a running total as a counter and a reading as a gauge, at each scrape', async () => {
    const registry = new Registry();
    let total = 3;
    let level = 7;
    scrapedCounter(registry, 'things_total', 'Things', () => total);
    scrapedGauge(registry, 'things_waiting', 'Waiting', () => level);
    expect(await registry.metrics()).toMatch(/things_total 3\n[\s\S]*things_waiting 7\n/);
    total = 10;
    level = 2;
    expect(await registry.metrics()).toMatch(/things_total 10\n[\s\S]*things_waiting 2\n/);
  });
});
