import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, spawnService, startServices } from '@keyledger/testing';

/** A TCP hop to Postgres that the test can cut, as a network partition would. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  readonly server: Server;

  constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.cut) return client.destroy();
      const upstream = connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => client.destroy()); // either side failing ends the pair
      }
      client.pipe(upstream).pipe(client);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)));
  }

  partition(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.destroy();
  }

  close(): void {
    this.partition();
    this.server.close();
  }
}

describe('a PostgreSQL outage', () => {
  let ctx: TestContext;
  let proxy: CuttableProxy;
  let services: RunningServices;
  let relay: ChildProcess;
  let api: NatsKeyApi;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  beforeAll(async () => {
    ctx = await createTestContext('pgoutage');
    const url = new URL(ctx.databaseUrl);
    proxy = new CuttableProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.host = `127.0.0.1:${await proxy.listen()}`;
    relay = spawnService(ctx, 'relay', { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey });
    services = await startServices(ctx, ['issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, DATABASE_URL: url.toString() });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    relay?.kill('SIGTERM');
    proxy?.close();
    await ctx.close();
  });

  it('makes issuer commands UNAVAILABLE while verifiers keep verifying from memory and stay ready', async () => {
    const { key } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'billing' });
    await eventually(
      'key verifiable',
      () => api.verify({ key }),
      (result) => result.code === 'VALID',
    );

    proxy.partition();

    const refused = await eventually(
      'issuer reports the outage',
      () => api.call('keys.issue', { tenant: 'acme', owner: 'billing' }),
      (reply) => !reply.ok,
    );
    expect(refused.error?.code).toBe('UNAVAILABLE');
    // Every command that reads a key's stream before it appends says so too, never INTERNAL.
    const { keyId } = (await api.verify({ key })) as { keyId: string };
    for (const [subject, body] of [
      ['keys.suspend', { keyId }],
      ['keys.resume', { keyId }],
      ['keys.revoke', { keyId, reason: 'outage drill' }],
      ['keys.rotate', { keyId, graceMs: 60_000 }],
      ['keys.rotate', { keyId, emergency: true }],
      ['keys.get', { keyId }],
    ] as const) {
      const reply = await api.call(subject, body);
      expect({ subject, ok: reply.ok, code: reply.error?.code }).toEqual({ subject, ok: false, code: 'UNAVAILABLE' });
    }
    expect((await api.verify({ key })).code).toBe('VALID');
    const [verifier] = services.of('verifier');
    const [issuer] = services.of('issuer');
    const verifierHealth = await fetch(`http://127.0.0.1:${verifier!.httpPort}/health/ready`);
    expect(verifierHealth.status).toBe(200);
    expect(await verifierHealth.json()).toMatchObject({
      status: 'degraded',
      details: { postgres: { status: 'degraded' }, 'key-projection': { status: 'up' } },
    });
    const issuerHealth = await fetch(`http://127.0.0.1:${issuer!.httpPort}/health/ready`);
    expect(issuerHealth.status).toBe(503);
    expect(await issuerHealth.json()).toMatchObject({ status: 'error', error: { postgres: { status: 'down' } } });
  });
});
