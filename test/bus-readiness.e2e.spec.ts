import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { formatNewKey } from '@keyledger/key-domain';
import type { AuthenticatedNats, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, startAuthenticatedNats, startServices } from '@keyledger/testing';

interface Health {
  status: number;
  body: { status: string; details?: Record<string, { status: string }>; error?: Record<string, { status: string }> };
}

async function health(port: number, kind: 'ready' | 'live'): Promise<Health> {
  const response = await fetch(`http://127.0.0.1:${port}/health/${kind}`);
  return { status: response.status, body: (await response.json()) as Health['body'] };
}

describe('readiness when NATS stops answering', () => {
  let ctx: TestContext;
  let nats: AuthenticatedNats;
  let relay: RunningServices;
  let issuer: RunningServices;
  let verifier: RunningServices;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  beforeAll(async () => {
    ctx = await createTestContext('busready', {
      nats: async (topology) => {
        nats = await startAuthenticatedNats(topology);
        return { url: nats.url, creds: readFileSync(nats.credsFile('operator'), 'utf8') };
      },
    });
    // Each service on its own NATS user, as installed.
    relay = await startServices(ctx, ['relay'], { NATS_CREDS: nats.credsFile('relay') });
    issuer = await startServices(ctx, ['issuer'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, NATS_CREDS: nats.credsFile('issuer') });
    verifier = await startServices(ctx, ['verifier'], { NATS_CREDS: nats.credsFile('verifier') });
  });

  afterAll(async () => {
    nats?.thaw();
    relay?.stop();
    issuer?.stop();
    verifier?.stop();
    await ctx?.close();
    await nats?.stop();
  });

  it('takes the issuer out of service while NATS is hung, and the verifier once its state is older than VERIFIER_MAX_STALENESS_MS, both alive', async () => {
    const issuerPort = issuer.of('issuer')[0]!.httpPort;
    const verifierPort = verifier.of('verifier')[0]!.httpPort;
    for (const port of [issuerPort, verifierPort]) await eventually('ready', () => health(port, 'ready'), (h) => h.status === 200, 30_000);

    nats.freeze();
    try {
      const issuerHealth = await eventually('issuer not ready', () => health(issuerPort, 'ready'), (h) => h.status === 503, 15_000);
      expect(issuerHealth.body.error?.['nats']?.status).toBe('down');
      // No relay heartbeat reaches it: it cannot know what was revoked since, and says so.
      const verifierHealth = await eventually('verifier not ready', () => health(verifierPort, 'ready'), (h) => h.status === 503, 15_000);
      expect(verifierHealth.body.error?.['key-projection']?.status).toBe('down');
      expect(verifierHealth.body.details?.['nats']?.status).toBe('degraded');
      for (const port of [issuerPort, verifierPort]) expect((await health(port, 'live')).status).toBe(200);
    } finally {
      nats.thaw();
    }
    for (const port of [issuerPort, verifierPort]) await eventually('ready again', () => health(port, 'ready'), (h) => h.status === 200, 30_000);
  });
});
