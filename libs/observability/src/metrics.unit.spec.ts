import { Registry } from 'prom-client';
import { scrapedCounter, scrapedGauge, scrapedLabelledCounter } from './metrics.js';

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

  it('reports running totals by label set, each catching up on its own, as new label sets appear', async () => {
    const registry = new Registry();
    const totals = new Map<string, number>([['VALID http', 5]]);
    scrapedLabelledCounter(registry, 'checks_total', 'Checks', ['code', 'transport'], () =>
      [...totals].map(([label, total]) => {
        const [code, transport] = label.split(' ') as [string, string];
        return [{ code, transport }, total] as const;
      }),
    );
    expect(await registry.metrics()).toContain('checks_total{code="VALID",transport="http"} 5\n');
    totals.set('VALID http', 9);
    totals.set('REVOKED nats', 2);
    const scraped = await registry.metrics();
    expect(scraped).toContain('checks_total{code="VALID",transport="http"} 9\n');
    expect(scraped).toContain('checks_total{code="REVOKED",transport="nats"} 2\n');
  });
});
