import { EventLoopDelaySampler } from './event-loop-delay.js';
import { createMetricsRegistry } from './metrics.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the event loop running (not blocked) for `ms`: its utilisation near 1. */
async function keepBusy(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) await new Promise((resolve) => setImmediate(resolve));
}

describe('event-loop delay sampler', () => {
  const samplers: EventLoopDelaySampler[] = [];
  const sampler = (busyPeriodMs: number, idlePeriodMs: number): EventLoopDelaySampler => {
    const started = new EventLoopDelaySampler({ busyPeriodMs, idlePeriodMs, busyUtilization: 0.02 });
    started.start();
    samplers.push(started);
    return started;
  };
  afterEach(() => samplers.splice(0).forEach((started) => started.stop()));

  it('records how late a timer ran, not the sampling period with it', async () => {
    const delay = sampler(50, 50);
    const histogram = delay.subscribe();
    await sleep(120);
    // Blocked: the sample due within 50 ms runs about 150 ms late.
    const blockedUntil = Date.now() + 200;
    while (Date.now() < blockedUntil);
    await sleep(60);
    expect(histogram.max / 1e6).toBeGreaterThanOrEqual(100);
    expect(histogram.min / 1e6).toBeLessThan(40);
  });

  it('samples at the idle period while the loop has nothing to do, and at the busy period again once it has', async () => {
    const delay = sampler(10, 300);
    const histogram = delay.subscribe();
    const idleBy = Date.now() + 3000;
    while (delay.periodMs !== 300 && Date.now() < idleBy) await sleep(20);
    expect(delay.periodMs).toBe(300);
    await keepBusy(700);
    expect(delay.periodMs).toBe(10);
    const counted = histogram.count;
    await keepBusy(200);
    expect(histogram.count - counted).toBeGreaterThanOrEqual(5);
  });

  it("reports the figures under prom-client's names, in seconds, as lateness", async () => {
    const registry = createMetricsRegistry('test');
    const another = createMetricsRegistry('test');
    await sleep(1300);
    const scraped = await registry.metrics();
    const figureIn = (exposition: string, statistic: string): number =>
      Number(new RegExp(`keyledger_nodejs_eventloop_lag_${statistic}_seconds\\{service="test"\\} (\\S+)`).exec(exposition)?.[1]);
    const figure = (statistic: string): number => figureIn(scraped, statistic);
    // Each registry reads a histogram of its own: one scrape does not empty another's.
    expect(figureIn(await another.metrics(), 'min')).toBeGreaterThan(0);
    // monitorEventLoopDelay's figures at a 100 ms period are never under 0.1 s.
    expect(figure('min')).toBeGreaterThan(0);
    expect(figure('min')).toBeLessThan(0.09);
    expect(figure('p50')).toBeLessThan(0.09);
    expect(scraped.match(/keyledger_nodejs_eventloop_lag_p99_seconds\{/g)).toHaveLength(1);
  });
});
