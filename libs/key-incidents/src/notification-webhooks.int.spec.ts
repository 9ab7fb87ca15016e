import { randomBytes, randomUUID } from 'node:crypto';
import type { SourceIncidentNotification } from '@keyledger/contracts';
import { headers } from '@nats-io/transport-node';
import { MESSAGE_HEADERS, ROOT_TENANT, formatUsageSeal, notificationSubject, securityAlertSubject } from '@keyledger/contracts';
import { EventAuthenticator } from '@keyledger/event-auth';
import type { CommandContext } from '@keyledger/admin-auth';
import { toApiError } from '@keyledger/api-transport';
import { WEBHOOK_SIGNATURE_HEADER, WebhookSender, verifyWebhookSignature } from '@keyledger/key-delivery';
import { WebhookSecrets } from '@keyledger/key-secrets';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import type { HttpsReceiver, ReceivedRequest, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, freePort, readStreamMessages, startHttpsReceiver } from '@keyledger/testing';
import { IncidentNotificationPublisher } from './incident-response.js';
import type { NotificationWebhookDependencies } from './notification-webhooks.js';
import { NOTIFICATION_ID_HEADER, NotificationWebhookConsumer } from './notification-webhooks.js';

/** A notification of an enumeration from a source network, as the anomaly detector publishes it. */
const incidentOf = (tenant: string): SourceIncidentNotification => ({
  v: 1,
  type: 'SourceIncident',
  incidentId: randomUUID(),
  tenant,
  network: '203.0.113.0/24',
  detector: 'enumeration',
  severity: 'high',
  detail: '40 unknown keys in 10 s',
  policy: 'notify',
  action: 'notify',
  at: new Date().toISOString(),
});

const peppers = [{ version: 1, secret: randomBytes(32) }];
const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };

/** What the rotator builds the consumer with: here the test's store and NATS, POSTing to the test's HTTPS receiver. */
function dependencies(ctx: TestContext, receiver: HttpsReceiver, timeoutMs: number): NotificationWebhookDependencies {
  return {
    nc: ctx.nc,
    js: ctx.js,
    jsm: ctx.jsm,
    topology: ctx.topology,
    logger: ctx.logger,
    store: ctx.store,
    poster: new WebhookSender({ timeoutMs, extraCa: receiver.caPem, allowPrivateAddresses: true }),
    secrets: new WebhookSecrets(peppers),
    auth: ctx.auth,
    // Each retry POSTs again here, so the tests count them; the pause has a test of its own.
    failingWebhookPauseMs: 0,
  };
}

describe("tenants' notification webhooks", () => {
  let ctx: TestContext;
  let receiver: HttpsReceiver;
  let tenants: TenantSettingsCommands;
  let notifications: IncidentNotificationPublisher;
  let consumer: NotificationWebhookConsumer;
  const secrets: Record<string, string> = {};

  const to = (path: string): ReceivedRequest[] => receiver.requests.filter((request) => request.path === path);
  const idOf = (request: ReceivedRequest): unknown => request.headers[NOTIFICATION_ID_HEADER.toLowerCase()];
  /** Waits for the POST of `notification` at `path`; answers what `path` received by then. */
  const postedTo = (path: string, notification: SourceIncidentNotification): Promise<ReceivedRequest[]> =>
    eventually(
      `${notification.incidentId} POSTed to ${path}`,
      () => to(path),
      (found) => found.some((r) => idOf(r) === notification.incidentId),
    );

  beforeAll(async () => {
    ctx = await createTestContext('notifyhook');
    receiver = await startHttpsReceiver();
    tenants = new TenantSettingsCommands({ store: ctx.store, webhookSecrets: new WebhookSecrets(peppers) });
    notifications = new IncidentNotificationPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.auth.authenticator);
    for (const tenant of ['acme', 'globex']) {
      const view = await tenants.registerNotificationWebhook({ tenant, url: `${receiver.url}/${tenant}` }, admin);
      secrets[tenant] = view.secret!;
    }
    consumer = new NotificationWebhookConsumer(dependencies(ctx, receiver, 5000), { redelivery: { maxDeliveries: 3, backoffMs: [200] }, ackWaitMs: 30_000 });
    await consumer.start();
  });
  afterAll(async () => {
    await consumer.stop();
    await receiver.close();
    await ctx.close();
  });

  it("POSTs a notification to its tenant's webhook exactly as published, signed with the secret shown once, its id in a header", async () => {
    const sent = incidentOf('acme');
    await notifications.publish(sent);
    const request = (await postedTo('/acme', sent)).find((r) => idOf(r) === sent.incidentId);
    expect(request!.method).toBe('POST');
    expect(request!.headers['keyledger-tenant']).toBe('acme');
    expect(JSON.parse(request!.body)).toEqual(sent);
    const header = request!.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string;
    expect(verifyWebhookSignature({ payload: request!.body, header, secret: secrets.acme! })).toMatchObject({ valid: true });
    // Another tenant's secret does not verify it.
    expect(verifyWebhookSignature({ payload: request!.body, header, secret: secrets.globex! })).toEqual({ valid: false, reason: 'NO_MATCHING_SIGNATURE' });
  });

  it('sends a notification again after a 500, and once it is answered 2xx, no more', async () => {
    const before = consumer.webhookCounts();
    receiver.statuses.push(500);
    const sent = incidentOf('globex');
    await notifications.publish(sent);
    const posts = await eventually(
      'the retry',
      () => to('/globex').filter((r) => idOf(r) === sent.incidentId),
      (found) => found.length >= 2,
    );
    expect(posts.map((r) => r.body)).toEqual([posts[0]!.body, posts[0]!.body]);
    // Acknowledged after the 2xx: the next notification is the next thing sent, the first not again.
    const next = incidentOf('globex');
    await notifications.publish(next);
    await postedTo('/globex', next);
    expect(to('/globex').filter((r) => idOf(r) === sent.incidentId)).toHaveLength(2);
    expect(consumer.webhookCounts()).toEqual({ delivered: before.delivered + 2, failed: before.failed + 1 });
  });

  it("sends no tenant another tenant's notification, nor one of a tenant without a webhook, nor the security alerts", async () => {
    const mine = incidentOf('acme');
    const other = incidentOf('initech');
    await notifications.publish(other);
    await ctx.js.publish(securityAlertSubject(ctx.topology.subjectPrefix), JSON.stringify({ kind: 'events-rejected' }));
    await notifications.publish(mine);
    await postedTo('/acme', mine);
    const ids = receiver.requests.map(idOf);
    expect(ids).not.toContain(other.incidentId);
    expect(to('/acme').every((r) => (JSON.parse(r.body) as { tenant: string }).tenant === 'acme')).toBe(true);
    expect(to('/globex').every((r) => (JSON.parse(r.body) as { tenant: string }).tenant === 'globex')).toBe(true);
    expect(receiver.requests.every((r) => r.path === '/acme' || r.path === '/globex')).toBe(true);
  });

  /** Publishes `body` on acme's notification subject under `seal` (a header value; none when undefined). */
  const publishOnAcme = async (body: string, seal?: string): Promise<void> => {
    const sealed = headers();
    if (seal !== undefined) sealed.set(MESSAGE_HEADERS.notificationSeal, seal);
    await ctx.js.publish(notificationSubject(ctx.topology.subjectPrefix, 'acme'), body, { headers: sealed });
  };
  const sealOf = (body: string): string => formatUsageSeal(ctx.auth.authenticator.sealNotification(new TextEncoder().encode(body)));

  it('POSTs no notification a NATS user without the event keys made up: unsealed, sealed with another key, or moved to another body; each refused and counted', async () => {
    const before = { posted: receiver.requests.length, rejected: consumer.counts().rejected, reported: ctx.auth.rejections.all.length };
    const madeUp = incidentOf('acme');
    const body = JSON.stringify(madeUp);
    const stranger = new EventAuthenticator([{ version: 1, secret: randomBytes(32) }]);
    await publishOnAcme(body);
    await publishOnAcme(body, formatUsageSeal(stranger.sealNotification(new TextEncoder().encode(body))));
    await publishOnAcme(body, sealOf(JSON.stringify(incidentOf('acme'))));
    // A genuine one after them: once it is POSTed, the three before it were handled.
    const genuine = incidentOf('acme');
    await notifications.publish(genuine);
    await postedTo('/acme', genuine);
    expect(receiver.requests.slice(before.posted).map(idOf)).not.toContain(madeUp.incidentId);
    expect(consumer.counts().rejected - before.rejected).toBe(3);
    expect(ctx.auth.rejections.all.slice(before.reported).map((rejection) => rejection.reason)).toEqual(['unsealed', 'bad-mac', 'bad-mac']);
  });

  it("dead-letters a sealed message on a tenant's subject that is no notification of that tenant, and POSTs nothing for it", async () => {
    const before = receiver.requests.length;
    const misplaced = JSON.stringify(incidentOf('globex'));
    // Sealed, as a service's bug would: on acme's subject, naming globex, neither tenant's webhook gets it.
    await publishOnAcme(misplaced, sealOf(misplaced));
    await publishOnAcme('not json', sealOf('not json'));
    await eventually(
      'both dead-lettered',
      () => consumer.counts()['dead-lettered'],
      (count) => count === 2,
    );
    const dead = await readStreamMessages(ctx.js, ctx.topology.deadLetterStream, 2);
    expect(dead.map((message) => message.subject)).toEqual([
      `${ctx.topology.subjectPrefix}.dlq.rotator-notification-webhooks`,
      `${ctx.topology.subjectPrefix}.dlq.rotator-notification-webhooks`,
    ]);
    expect(receiver.requests.slice(before).map(idOf)).not.toContain((JSON.parse(misplaced) as { incidentId: string }).incidentId);
  });

  it("gives a webhook that keeps failing up after the policy's deliveries, dead-lettered, while the other tenants' go on", async () => {
    // Nothing listens there: every POST fails at once.
    await tenants.registerNotificationWebhook({ tenant: 'umbrella', url: `https://127.0.0.1:${await freePort()}/down` }, admin);
    const before = { ...consumer.webhookCounts(), dead: consumer.counts()['dead-lettered'] };
    const lost = incidentOf('umbrella');
    const after = incidentOf('acme');
    await notifications.publish(lost);
    await notifications.publish(after);
    await postedTo('/acme', after);
    await eventually(
      'the failing one dead-lettered',
      () => consumer.counts()['dead-lettered'],
      (count) => count === before.dead + 1,
    );
    expect(consumer.webhookCounts().failed).toBe(before.failed + 3);
  });

  it("stops POSTing once the webhook is removed, and refuses another tenant's admin", async () => {
    const globexAdmin: CommandContext = { caller: { keyId: 'key_globex', tenant: 'globex', scopes: ['keyledger:*'] }, correlationId: 'test' };
    const refused = await tenants
      .registerNotificationWebhook({ tenant: 'acme', url: 'https://evil.example.com/' }, globexAdmin)
      .catch((error: unknown) => toApiError(error)?.code);
    expect(refused).toBe('PERMISSION_DENIED');
    await expect(tenants.removeNotificationWebhook({ tenant: 'acme' }, globexAdmin)).rejects.toThrow();
    expect(await tenants.removeNotificationWebhook({ tenant: 'acme' }, admin)).toEqual({ tenant: 'acme', url: null, secret: null });
    const unsent = incidentOf('acme');
    const marker = incidentOf('globex');
    await notifications.publish(unsent);
    await notifications.publish(marker);
    await postedTo('/globex', marker);
    expect(receiver.requests.map(idOf)).not.toContain(unsent.incidentId);
  });
});

describe('a notification webhook consumer that dies mid-POST', () => {
  let ctx: TestContext;
  let receiver: HttpsReceiver;

  beforeAll(async () => {
    ctx = await createTestContext('notifykill');
    receiver = await startHttpsReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await ctx.close();
  });

  it('leaves the notification unacknowledged, so another replica POSTs it', async () => {
    const tenants = new TenantSettingsCommands({ store: ctx.store, webhookSecrets: new WebhookSecrets(peppers) });
    await tenants.registerNotificationWebhook({ tenant: 'acme', url: `${receiver.url}/acme` }, admin);
    const deps = dependencies(ctx, receiver, 500);
    const settings = { redelivery: { maxDeliveries: 3, backoffMs: [200] }, ackWaitMs: 1000 };
    let posted = false;
    // A process killed while its POST was out: the POST never comes back, nothing is acknowledged.
    const dying = new NotificationWebhookConsumer(
      {
        ...deps,
        poster: {
          timeoutMs: 500,
          post: () => {
            posted = true;
            return new Promise(() => undefined);
          },
        },
      },
      settings,
    );
    await dying.start();
    const sent = incidentOf('acme');
    await new IncidentNotificationPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.auth.authenticator).publish(sent);
    await eventually('the dying POST', () => posted, Boolean);
    const survivor = new NotificationWebhookConsumer(deps, settings);
    await survivor.start();
    try {
      await eventually(
        'the survivor POST',
        () => receiver.requests,
        (found) => found.length > 0,
      );
      expect(receiver.requests.map((r) => r.headers[NOTIFICATION_ID_HEADER.toLowerCase()])).toEqual([sent.incidentId]);
    } finally {
      await survivor.stop();
    }
  });
});

describe('a notification webhook that keeps failing', () => {
  let ctx: TestContext;
  let receiver: HttpsReceiver;

  beforeAll(async () => {
    ctx = await createTestContext('notifypause');
    receiver = await startHttpsReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await ctx.close();
  });

  it("is left alone for a pause after a failure, so it holds the other tenants' notifications back once, not once per notification", async () => {
    const tenants = new TenantSettingsCommands({ store: ctx.store, webhookSecrets: new WebhookSecrets(peppers) });
    await tenants.registerNotificationWebhook({ tenant: 'acme', url: `${receiver.url}/acme` }, admin);
    await tenants.registerNotificationWebhook({ tenant: 'umbrella', url: `${receiver.url}/umbrella` }, admin);
    const deps = dependencies(ctx, receiver, 5000);
    const attempts: string[] = [];
    // umbrella's webhook fails every POST (as one that hangs would, without the wait); acme's is the real receiver.
    const poster: NotificationWebhookDependencies['poster'] = {
      timeoutMs: deps.poster.timeoutMs,
      post: (url, body, postHeaders) => {
        attempts.push(url);
        return url.endsWith('/umbrella') ? Promise.resolve({ ok: false, error: 'HTTP 503' }) : deps.poster.post(url, body, postHeaders);
      },
    };
    const consumer = new NotificationWebhookConsumer(
      { ...deps, poster, failingWebhookPauseMs: 60_000 },
      { redelivery: { maxDeliveries: 3, backoffMs: [100] }, ackWaitMs: 30_000 },
    );
    await consumer.start();
    try {
      const publisher = new IncidentNotificationPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.auth.authenticator);
      for (let n = 0; n < 3; n += 1) await publisher.publish(incidentOf('umbrella'));
      const other = incidentOf('acme');
      await publisher.publish(other);
      await eventually(
        "acme's notification POSTed",
        () => receiver.requests.map((r) => r.headers[NOTIFICATION_ID_HEADER.toLowerCase()]),
        (ids) => ids.includes(other.incidentId),
      );
      await eventually(
        "umbrella's three dead-lettered after their deliveries",
        () => consumer.counts()['dead-lettered'],
        (count) => count === 3,
      );
      // One POST to umbrella's webhook in all: every other delivery of its notifications fell in the pause.
      expect(attempts.filter((url) => url.endsWith('/umbrella'))).toHaveLength(1);
    } finally {
      await consumer.stop();
    }
  });
});
