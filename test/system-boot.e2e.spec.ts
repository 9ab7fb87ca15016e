import type { ChildProcess } from 'node:child_process';
import { NO_STREAM, START_OF_LOG } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, freePort, serviceOutput, spawnService, testEvent, waitForExit } from '@keyledger/testing';

const SERVICES = ['issuer', 'verifier', 'rotator', 'auditor', 'anomaly-detector', 'relay'] as const;

/** Terminus's health check body. */
interface Readiness {
  status: string;
  details: Record<string, { status: string }>;
}

async function readiness(port: number): Promise<{ code: number; body?: Readiness }> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health/ready`);
    return { code: response.status, body: (await response.json()) as Readiness };
  } catch {
    return { code: 0 }; // not listening yet
  }
}

describe('the system', () => {
  let ctx: TestContext;
  const running = new Map<string, { child: ChildProcess; port: number }>();

  beforeAll(async () => {
    ctx = await createTestContext('boot');
    for (const service of SERVICES) {
      const port = await freePort();
      running.set(service, { child: spawnService(ctx, service, { HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1' }), port });
    }
  });

  afterAll(async () => {
    for (const { child } of running.values()) if (child.exitCode === null) child.kill('SIGKILL');
    await ctx.close();
  });

  it('boots every service, connected to Postgres and NATS, and answers its health checks', async () => {
    for (const [service, { port }] of running) {
      const { body } = await eventually(
        `${service} ready`,
        () => readiness(port),
        (r) => r.code === 200,
      );
      expect(body).toMatchObject({ status: 'ok', details: { postgres: { status: 'up' }, nats: { status: 'up' } } });
      const live = await fetch(`http://127.0.0.1:${port}/health/live`);
      expect(live.status).toBe(200);
      expect(await live.json()).toMatchObject({ status: 'ok', details: { [service]: { status: 'up' } } });
    }
  });

  it('publishes a committed event through the relay service', async () => {
    await ctx.store.append('key-boot', NO_STREAM, [testEvent()]);
    // The issuer's first start also records the root admin key: compare with the whole store.
    const stored = (await ctx.store.readAll(START_OF_LOG, 1000).then((page) => page.events)).length;
    expect(stored).toBeGreaterThanOrEqual(1);
    await eventually(
      'every stored event on JetStream',
      async () => (await ctx.jsm.streams.info(ctx.topology.eventStream)).state.messages,
      (n) => n === stored,
    );
  });

  it('exits with an error when it cannot reach Postgres at start', async () => {
    const port = await freePort();
    const child = spawnService(ctx, 'verifier', { HTTP_PORT: String(port), DATABASE_URL: 'postgres://127.0.0.1:1/none' });
    expect(await waitForExit(child)).not.toBe(0);
  });

  it('stops cleanly (exit code 0) on SIGTERM after running its shutdown hooks', async () => {
    for (const { child } of running.values()) child.kill('SIGTERM');
    const codes = await Promise.all([...running.values()].map(({ child }) => waitForExit(child)));
    expect(codes).toEqual(SERVICES.map(() => 0));
  });

  it("writes every log line, Nest's own included, as JSON (the issuer's one-time root key banner aside)", () => {
    for (const [service, { child }] of running) {
      const lines = serviceOutput(child)
        .split('\n')
        .filter((line) => line.trim() !== '');
      const banner = service === 'issuer' ? lines.findIndex((line) => line.startsWith('Root admin key')) : -1;
      const logLines = banner === -1 ? lines : [...lines.slice(0, banner), ...lines.slice(banner + 2)];
      expect(logLines.length).toBeGreaterThan(0);
      for (const line of logLines) expect(() => JSON.parse(line) as unknown).not.toThrow();
      expect(logLines.map((line) => (JSON.parse(line) as { service?: string }).service)).toEqual(logLines.map(() => service));
    }
  });
});
