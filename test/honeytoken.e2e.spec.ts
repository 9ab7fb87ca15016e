import { randomBytes } from 'node:crypto';
import type { AnomalyDetectedData, EventEnvelope, IncidentNotification, KeyIncidentHandledData, KeyView, NotificationWebhookView } from '@keyledger/contracts';
import { apiSubject, notificationSubject, streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import { WEBHOOK_SIGNATURE_HEADER, verifyWebhookSignature } from '@keyledger/live-key-client';
import type { HttpsReceiver, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, runCli, startHttpsReceiver, startServices, stopProcesses } from '@keyledger/testing';

const FAILED_LIMIT = 6;
const randomKey = (): string => formatNewKey('kl', 'live', (n) => randomBytes(n));

/** An HTTP answer whole: status, every header but the date, and the body. */
interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * A honeytoken against the running services on real NATS and Postgres: whoever presents it,
 * over HTTP, NATS or gRPC, gets exactly what an unknown key gets, while the anomaly detector
 * records a critical `honeytoken` finding and the rotator tells the tenant, on its subject and
 * its signed notification webhook, acting on nothing.
 */
describe('honeytokens, end to end', () => {
  let ctx: TestContext;
  let services: RunningServices;
  const rootKey = randomKey();
  let api: NatsKeyApi;
  let port: number;
  let honeytoken: KeyView & { key: string };
  let receiver: HttpsReceiver;
  let webhook: NotificationWebhookView;

  const authorize = async (key: string): Promise<HttpAnswer> => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/authorize`, { headers: { Authorization: `Bearer ${key}`, 'X-Required-Scope': 'billing:write' } });
    const headers = Object.fromEntries([...response.headers].filter(([name]) => name !== 'date'));
    return { status: response.status, headers, body: await response.text() };
  };
  /** The NATS reply as it travels: its bytes and its headers. */
  const natsVerify = async (body: Record<string, unknown>): Promise<{ data: string; headers: string[] }> => {
    const reply = await ctx.nc.request(apiSubject(ctx.topology.subjectPrefix, 'keys.verify'), JSON.stringify(body), { timeout: 10_000 });
    return {
      data: Buffer.from(reply.data).toString('hex'),
      headers: reply.headers ? [...reply.headers].map(([name, values]) => `${name}: ${values.join(',')}`) : [],
    };
  };
  const cli = (args: string[]) => runCli(ctx, args, { adminKey: rootKey });
  const eventsOf = async <T>(keyId: string, type: string): Promise<T[]> =>
    (await ctx.store.readStream(streamIdOf('key', keyId))).filter((event: EventEnvelope) => event.type === type).map((event) => event.data as T);
  async function notifications(): Promise<IncidentNotification[]> {
    const consumer = await ctx.js.consumers.get(ctx.topology.notificationStream, { filter_subjects: notificationSubject(ctx.topology.subjectPrefix, 'acme') });
    const found: IncidentNotification[] = [];
    for (let message = await consumer.next({ expires: 1000 }); message; message = await consumer.next({ expires: 1000 }))
      found.push(message.json<IncidentNotification>());
    return found;
  }

  beforeAll(async () => {
    ctx = await createTestContext('honeytoken');
    receiver = await startHttpsReceiver();
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'rotator', 'anomaly-detector'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      // The tenant's notification webhook is this test's HTTPS receiver on 127.0.0.1.
      KEYLEDGER_WEBHOOK_CA_FILE: receiver.caFile,
      DELIVERY_WEBHOOK_ALLOW_PRIVATE: 'true',
      CONSUMER_BACKOFF_MS: '100,500',
      // This process is an ordinary client: its address is its own, and counted.
      VERIFIER_TRUSTED_PROXIES: '',
      VERIFIER_FAILED_VERIFY_LIMIT: String(FAILED_LIMIT),
      VERIFIER_FAILED_VERIFY_WINDOW_MS: '3600000',
    });
    port = services.of('verifier')[0]!.httpPort;
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    // The policy would rotate a key at once: a honeytoken's incident must still change nothing.
    expect((await cli(['incident-policy', 'set', '--tenant', 'acme', '--on-anomaly', 'emergency-rotate'])).code).toBe(0);
    const registered = await cli(['tenants', 'notification-webhook', 'set', '--tenant', 'acme', '--url', `${receiver.url}/acme`, '--json']);
    expect(registered.code).toBe(0);
    webhook = JSON.parse(registered.stdout) as NotificationWebhookView;
    const issued = await cli([
      'keys',
      'issue',
      '--tenant',
      'acme',
      '--owner',
      'payments',
      '--scopes',
      'billing:*',
      '--credits',
      '100',
      '--rate-limit',
      '1000/1s',
      '--honeytoken',
      '--json',
    ]);
    expect(issued.code).toBe(0);
    honeytoken = JSON.parse(issued.stdout) as KeyView & { key: string };
    // The verifier follows the store in order: once it knows a key issued after the honeytoken, it holds the honeytoken too.
    const later = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'payments', scopes: ['billing:*'] });
    await eventually(
      'the verifier knows the key issued after the honeytoken',
      () => api.verify({ key: later.key }),
      (result) => result.valid,
    );
  });

  afterAll(async () => {
    await stopProcesses((services?.all ?? []).map((service) => service.child));
    await receiver?.close();
    await ctx?.close();
  }, 60_000);

  it('shows admins a honeytoken for what it is, in keys get and keys list', async () => {
    expect(honeytoken).toMatchObject({ honeytoken: true, tenant: 'acme', status: 'active' });
    expect((await cli(['keys', 'get', honeytoken.keyId])).stdout).toMatch(/active, HONEYTOKEN/);
    expect((await cli(['keys', 'list', '--tenant', 'acme'])).stdout).toMatch(new RegExp(`${honeytoken.keyId}.*HONEYTOKEN`));
  });

  it('answers a honeytoken over HTTP exactly as an unknown key, and reports it as a critical anomaly with the call', async () => {
    const unknown = await authorize(randomKey());
    const tripped = await authorize(honeytoken.key);
    expect(unknown.status).toBe(401);
    expect(tripped).toEqual(unknown);

    const [anomaly] = await eventually(
      'AnomalyDetected on the honeytoken',
      () => eventsOf<AnomalyDetectedData>(honeytoken.keyId, 'AnomalyDetected'),
      (found) => found.length > 0,
      30_000,
    );
    expect(anomaly).toMatchObject({
      keyId: honeytoken.keyId,
      tenant: 'acme',
      kind: 'honeytoken',
      severity: 'critical',
      detail: expect.stringMatching(/^honeytoken: a honeytoken was presented from 127\.0\.0\.0\/24 over http$/),
      call: { transport: 'http', ip: expect.stringContaining('127.0.0.1'), scopes: ['billing:write'], at: expect.any(String) },
    });
    expect(Date.now() - Date.parse(anomaly!.call!.at)).toBeLessThan(10 * 60_000);
  });

  it('tells the tenant on its subject and its webhook, and changes nothing of the honeytoken, whatever the policy asks', async () => {
    const [handled] = await eventually(
      'the incident handled',
      () => eventsOf<KeyIncidentHandledData>(honeytoken.keyId, 'KeyIncidentHandled'),
      (found) => found.length > 0,
      30_000,
    );
    expect(handled).toMatchObject({ policy: 'emergency-rotate', action: 'notify', reason: 'honeytoken' });
    const notified = (await notifications()).filter((notification) => notification.keyId === honeytoken.keyId);
    expect(notified).toEqual([
      expect.objectContaining({
        incident: 'AnomalyDetected',
        tenant: 'acme',
        owner: 'payments',
        anomaly: expect.objectContaining({
          kind: 'honeytoken',
          severity: 'critical',
          call: expect.objectContaining({ transport: 'http', scopes: ['billing:write'] }),
        }),
        action: 'notify',
        reason: 'honeytoken',
      }),
    ]);
    // The same notification POSTed to the tenant's webhook, byte for byte as published, signed with the secret shown once.
    const [posted] = await eventually(
      'the notification at the webhook',
      () => receiver.requests.filter((request) => request.headers['keyledger-notification-id'] === notified[0]!.incidentId),
      (found) => found.length > 0,
      30_000,
    );
    expect(posted!.path).toBe('/acme');
    expect(JSON.parse(posted!.body)).toEqual(notified[0]);
    const header = posted!.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string;
    expect(verifyWebhookSignature({ payload: posted!.body, header, secret: webhook.secret! })).toMatchObject({ valid: true });
    const view = JSON.parse((await cli(['keys', 'get', honeytoken.keyId, '--json'])).stdout) as KeyView;
    expect(view).toMatchObject({ status: 'active', rotation: null, honeytoken: true, credits: { remaining: 100 } });
  });

  it('answers a honeytoken over NATS and gRPC exactly as an unknown key, byte for byte on NATS', async () => {
    for (const ask of [{}, { tenant: 'acme', scopes: ['billing:write'] }, { tenant: 'globex' }]) {
      const unknown = await natsVerify({ key: randomKey(), ...ask });
      expect(await natsVerify({ key: honeytoken.key, ...ask })).toEqual(unknown);
      expect(JSON.parse(Buffer.from(unknown.data, 'hex').toString())).toEqual({ valid: false, code: 'NOT_FOUND' });
    }
    const grpc = grpcClient(`127.0.0.1:${services.of('verifier')[0]!.grpcPort}`, 'VerifierService');
    try {
      const unknown = await grpc.call('Verify', { key: randomKey(), scopes: ['billing:write'] });
      expect(await grpc.call('Verify', { key: honeytoken.key, scopes: ['billing:write'] })).toEqual(unknown);
      expect(unknown).toMatchObject({ valid: false, code: 'NOT_FOUND' });
    } finally {
      grpc.close();
    }
  });

  it('counts a honeytoken against its source’s failed-verify throttle exactly as an unknown key', async () => {
    const { key } = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'payments', scopes: ['billing:*'] });
    await eventually(
      'the verifier knows the key',
      () => api.verify({ key }),
      (result) => result.valid,
    );
    const codes = async (ip: string, presented: () => string): Promise<string[]> => {
      const answers: string[] = [];
      for (let i = 0; i < FAILED_LIMIT; i += 1) answers.push((await api.verify({ key: presented(), ip })).code);
      answers.push((await api.verify({ key, ip })).code);
      return answers;
    };
    const byHoneytoken = await codes('192.0.2.10', () => honeytoken.key);
    expect(byHoneytoken).toEqual([...Array<string>(FAILED_LIMIT).fill('NOT_FOUND'), 'RATE_LIMITED']);
    expect(await codes('192.0.2.11', randomKey)).toEqual(byHoneytoken);
  });

  it('never rotates a honeytoken into a usable key', async () => {
    const rotate = await cli(['keys', 'rotate', honeytoken.keyId]);
    expect(rotate.code).not.toBe(0);
    expect(rotate.stderr.trim().split('\n')).toHaveLength(1);
    expect(rotate.stderr).toMatch(/honeytoken/);
    expect(await eventsOf(honeytoken.keyId, 'KeyRotated')).toEqual([]);
  });
});
