import { randomBytes } from 'node:crypto';
import { formatNewKey } from '@keyledger/key-domain';
import type { RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, natsKeyApi, runCli, startServices, stopProcesses } from '@keyledger/testing';

/** A rate spike is judged after seconds here, not a day: the demo's --spike needs a detector started so. */
const DETECTOR_ENV = { ANOMALY_RATE_WINDOW_MS: '1000', ANOMALY_RATE_WARMUP_MS: '4000', ANOMALY_RATE_FLOOR: '10' };

interface DemoSummary {
  tenant: string;
  attacks: { attack: string; detectedAfterMs: number | null; effectAfterMs: number | null; effect: string }[];
}

/** `keyledger demo` against every service of `npm start`: each staged attack found and acted on, as a newcomer would see it. */
describe('keyledger demo', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;

  beforeAll(async () => {
    ctx = await createTestContext('demo');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      CONSUMER_BACKOFF_MS: '100,500',
      ...DETECTOR_ENV,
    });
    await natsKeyApi(ctx, rootKey).adminKeyAccepted();
  });

  afterAll(async () => {
    await stopProcesses((services?.all ?? []).map((service) => service.child));
    await ctx.close();
  }, 60_000);

  it('stages every attack and sees each detected and acted on', async () => {
    const run = await runCli(ctx, ['demo', '--tenant', 'demo', '--warmup', '6s', '--wait', '45s', '--spike', '--json'], { adminKey: rootKey });
    expect(run.stderr).toBe('');
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary.tenant).toBe('demo');
    expect(summary.attacks.map((row) => row.attack)).toEqual(['retired key still in use', 'honeytoken', 'enumeration burst', 'rate spike']);
    for (const row of summary.attacks) {
      expect({ attack: row.attack, detected: row.detectedAfterMs !== null, effect: row.effectAfterMs !== null }).toEqual({ attack: row.attack, detected: true, effect: true });
    }
    expect(run.code).toBe(0);
  }, 300_000);

  it('tells a person what happens as it happens, and says why no rate spike is staged without --spike', async () => {
    // A second run within the hour a source network is found once in: its attacker comes from another /48.
    const run = await runCli(ctx, ['demo', '--warmup', '1s', '--wait', '45s'], { adminKey: rootKey });
    expect(run.stdout).toMatch(/ATTACK honeytoken: the honeytoken presented from 2001:db8:[0-9a-f]+::8/);
    expect(run.stdout).toMatch(/FOUND honeytoken \(critical\) on key_/);
    expect(run.stdout).toMatch(/EFFECT a real key presented from 2001:db8:[0-9a-f]+::9 is answered DENIED/);
    expect(run.stdout).toMatch(/no rate spike staged: a key is judged by rate after ANOMALY_RATE_WARMUP_MS/);
    expect(run.stdout).toMatch(/keyledger anomalies list --tenant demo-[0-9a-f]{6}/);
    expect(run.code).toBe(0);
  }, 300_000);

  it('revokes its keys at the end, and refuses a tenant in use unless forced', async () => {
    const again = await runCli(ctx, ['demo', '--tenant', 'demo', '--warmup', '1s'], { adminKey: rootKey });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/tenant demo has keys: the demo sets its incident policy and issues keys there/);
    const keys = await runCli(ctx, ['keys', 'list', '--tenant', 'demo', '--json'], { adminKey: rootKey });
    const statuses = (JSON.parse(keys.stdout) as { status: string }[]).map((key) => key.status);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((status) => status !== 'revoked')).toEqual([]);
  });

  it('refuses to run without an admin key, in one line', async () => {
    const run = await runCli(ctx, ['demo']);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
