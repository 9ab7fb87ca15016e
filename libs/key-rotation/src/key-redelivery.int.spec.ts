import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { EventMetadata, KeyDeliveredData } from '@keyledger/contracts';
import { ROOT_TENANT, deliverySubject, streamIdOf } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { toApiError } from '@keyledger/api-transport';
import type { AppendResult, NewEvent } from '@keyledger/event-store';
import { PostgresEventStore, START_OF_LOG } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { OpenedKey } from '@keyledger/key-delivery';
import { SealedKeyPublisher, WebhookSender, newAckToken, verifyWebhookSignature, x25519PublicKeyToBase64 } from '@keyledger/key-delivery';
import type { FenceResult } from '@keyledger/key-projection';
import { KeyIndex, VerifierFence } from '@keyledger/key-projection';
import { KeyHasher, WebhookSecrets } from '@keyledger/key-secrets';
import type { NewPendingDelivery } from '@keyledger/pending-deliveries';
import { PendingDeliveries } from '@keyledger/pending-deliveries';
import type { HttpsReceiver, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, openDelivered, startHttpsReceiver } from '@keyledger/testing';
import { KeyCommands, loadKey } from '@keyledger/key-commands';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import { DeliveryRetries } from './delivery-retries.js';
import { KeyDeliveries } from './key-deliveries.js';
import { KeyRotation } from './key-rotation.js';

const T0 = Date.parse('2031-05-01T00:00:00Z');
const SECOND = 1000;
const HOUR = 3_600_000;

/**
 * The event store through a connection that drops once: the next append of a KeyIssued loses
 * its answer, after its commit (the key is issued, the caller cannot know) or before it.
 */
class DroppingStore extends PostgresEventStore {
  dropNextIssue: 'after-commit' | 'before-commit' | undefined;

  override async append(streamId: string, expectedVersion: number, events: readonly NewEvent[]): Promise<AppendResult> {
    const drop = events.some((event) => event.type === 'KeyIssued') ? this.dropNextIssue : undefined;
    if (drop === undefined) return super.append(streamId, expectedVersion, events);
    this.dropNextIssue = undefined;
    if (drop === 'after-commit') await super.append(streamId, expectedVersion, events);
    throw new Error('Connection terminated unexpectedly');
  }
}

describe('redelivery of rotated keys until acknowledged', () => {
  let ctx: TestContext;
  let receiver: HttpsReceiver;
  let now = T0;
  const clock = () => new Date(now);
  const peppers = [{ version: 1, secret: randomBytes(32) }];
  const hasher = new KeyHasher(peppers);
  const owner = generateKeyPairSync('x25519');
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const ackMetadata: EventMetadata = { actor: 'test', correlationId: 'ack', causationId: 'ack' };
  let pending: PendingDeliveries;
  let deliveries: KeyDeliveries;
  let keys: KeyCommands;
  let rotation: KeyRotation;
  let tenants: TenantSettingsCommands;
  let publisher: SealedKeyPublisher;

  function retries(webhookTimeoutMs = 10_000): DeliveryRetries {
    return new DeliveryRetries(
      {
        deliveries,
        pending,
        store: ctx.store,
        publisher,
        webhooks: {
          poster: new WebhookSender({ timeoutMs: webhookTimeoutMs, extraCa: receiver.caPem, allowPrivateAddresses: true }),
          secrets: new WebhookSecrets(peppers),
        },
        logger: ctx.logger,
        clock,
      },
      { intervalMs: 60_000, batchSize: 100, concurrency: 4 },
    );
  }

  /** A fresh owner with the test's public key, a key of it, and that key rotated at T0. */
  async function rotatedKey(ownerName: string, graceMs = 60 * SECOND) {
    now = T0;
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: ownerName, publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const first = await keys.issue({ tenant: 'acme', owner: ownerName, environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
    const rotated = await rotation.rotate({ keyId: first.keyId, graceMs, emergency: false, waitForVerifiers: false }, admin);
    return { first, rotated };
  }

  /** Every envelope published for one owner, opened, oldest first. */
  async function envelopesFor(ownerName: string): Promise<OpenedKey[]> {
    const consumer = await ctx.js.consumers.get(ctx.topology.deliveryStream, {
      filter_subjects: deliverySubject(ctx.topology.subjectPrefix, 'acme', ownerName),
    });
    const found: OpenedKey[] = [];
    for (;;) {
      const message = await consumer.next({ expires: 1000 });
      if (!message) return found;
      found.push(openDelivered(ctx, message.data, { tenant: 'acme', owner: ownerName, privateKey: owner.privateKey }));
    }
  }

  const deliveryEvents = async (keyId: string) =>
    (await ctx.store.readStream(streamIdOf('delivery', keyId))).map((event) => ({ type: event.type, data: event.data }));

  async function codeOf(action: Promise<unknown>): Promise<string | undefined> {
    try {
      await action;
    } catch (error) {
      // The code the API would answer.
      const code = toApiError(error)?.code;
      if (code) return code;
      throw error;
    }
    return undefined;
  }

  beforeAll(async () => {
    ctx = await createTestContext('redelivery');
    receiver = await startHttpsReceiver();
    pending = new PendingDeliveries(ctx.appDb);
    publisher = new SealedKeyPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.deliverySigner);
    deliveries = new KeyDeliveries({ store: ctx.store, pending, publisher, clock }, { retry: { minMs: 5 * SECOND, maxMs: 20 * SECOND }, ttlMs: HOUR });
    const deps = { store: ctx.store, hasher, index: new KeyIndex(), clock, delivery: deliveries, webhookSecrets: new WebhookSecrets(peppers) };
    keys = new KeyCommands(deps);
    rotation = new KeyRotation(deps);
    tenants = new TenantSettingsCommands(deps);
  });

  afterAll(async () => {
    await receiver.close();
    await ctx.close();
  });

  it('sends an unacknowledged key again with a growing delay, then expires it and deletes the sealed copy', async () => {
    const { rotated } = await rotatedKey('batch');
    expect(rotated.delivery).toBe('DELIVERED');
    const rotator = retries();
    expect((await rotator.runOnce()).sent).toEqual([]); // the first send was the rotation's own
    now = T0 + 5 * SECOND;
    expect((await rotator.runOnce()).sent).toEqual([rotated.keyId]);
    now = T0 + 14 * SECOND;
    expect((await rotator.runOnce()).sent).toEqual([]); // the second retry waits 10 s
    now = T0 + 15 * SECOND;
    expect((await rotator.runOnce()).sent).toEqual([rotated.keyId]);
    const sent = await envelopesFor('batch');
    expect(sent.map((opened) => opened.keyId)).toEqual([rotated.keyId, rotated.keyId, rotated.keyId]);
    expect(new Set(sent.map((opened) => opened.ackToken)).size).toBe(1); // the same envelope each time
    expect(rotator.counts()).toMatchObject({ attempts: 2, failedAttempts: 0, pending: 1 });

    // The grace (60 s) is shorter than the minimum lifetime (1 h): retried until then.
    now = T0 + HOUR;
    expect((await rotator.runOnce()).expired).toEqual([rotated.keyId]);
    expect(await pending.rowsOf(rotated.keyId)).toEqual([]);
    expect(await deliveryEvents(rotated.keyId)).toMatchObject([
      { type: 'KeyDelivered', data: { keyId: rotated.keyId, expiresAt: new Date(T0 + HOUR).toISOString() } },
      { type: 'KeyDeliveryExpired', data: { keyId: rotated.keyId, tenant: 'acme', owner: 'batch', attempts: 3 } },
    ]);
    expect(deliveries.counts().expired).toBeGreaterThanOrEqual(1);

    // A late acknowledgement with the right token: told it expired, and nothing is recorded.
    expect(await deliveries.acknowledge({ keyId: rotated.keyId, ackToken: sent[0]!.ackToken! }, ackMetadata)).toEqual({
      keyId: rotated.keyId,
      status: 'EXPIRED',
    });
    expect(await deliveryEvents(rotated.keyId)).toHaveLength(2);
  });

  it('ends a delivery with the ack token sealed beside the key; a wrong token is refused and changes nothing; a repeat is harmless', async () => {
    const { rotated } = await rotatedKey('orders');
    const [opened] = await envelopesFor('orders');
    expect(opened).toMatchObject({ keyId: rotated.keyId, key: rotated.key });

    expect(await codeOf(deliveries.acknowledge({ keyId: rotated.keyId, ackToken: newAckToken() }, ackMetadata))).toBe('UNAUTHENTICATED');
    expect(await pending.rowsOf(rotated.keyId)).toHaveLength(1);
    expect((await deliveryEvents(rotated.keyId)).map((event) => event.type)).toEqual(['KeyDelivered']);

    expect(await deliveries.acknowledge({ keyId: rotated.keyId, ackToken: opened!.ackToken! }, ackMetadata)).toEqual({
      keyId: rotated.keyId,
      status: 'ACKNOWLEDGED',
    });
    expect(await pending.rowsOf(rotated.keyId)).toEqual([]);
    expect(await deliveryEvents(rotated.keyId)).toMatchObject([
      { type: 'KeyDelivered' },
      { type: 'KeyDeliveryAcknowledged', data: { keyId: rotated.keyId, channel: 'nats', attempts: 1 } },
    ]);

    expect(await deliveries.acknowledge({ keyId: rotated.keyId, ackToken: opened!.ackToken! }, ackMetadata)).toEqual({
      keyId: rotated.keyId,
      status: 'ALREADY_ACKNOWLEDGED',
    });
    expect(await codeOf(deliveries.acknowledge({ keyId: rotated.keyId, ackToken: newAckToken() }, ackMetadata))).toBe('UNAUTHENTICATED');
    expect(await deliveryEvents(rotated.keyId)).toHaveLength(2);
    expect(await codeOf(deliveries.acknowledge({ keyId: newPrefixedId('key'), ackToken: newAckToken() }, ackMetadata))).toBe('KEY_NOT_FOUND');

    // Acknowledged: never sent again.
    now = T0 + HOUR;
    const pass = await retries().runOnce();
    expect([...pass.sent, ...pass.expired]).not.toContain(rotated.keyId);
  });

  it('POSTs the key sealed and signed to the owner’s HTTPS webhook; a 500 is retried and a 2xx acknowledges it', async () => {
    now = T0;
    const webhook = await tenants.registerOwnerWebhook({ tenant: 'acme', owner: 'hooked', url: `${receiver.url}/keyledger?src=test` }, admin);
    expect(webhook.secret).toMatch(/^whsec_/);
    receiver.statuses.push(500);
    const before = receiver.requests.length;
    const { rotated } = await rotatedKey('hooked');
    const rotator = retries();

    const first = await rotator.runOnce();
    expect(first.failed).toEqual([rotated.keyId]);
    expect(receiver.requests.length - before).toBe(1);
    expect((await pending.rowsOf(rotated.keyId)).find((row) => row.channel === 'webhook')).toMatchObject({ attempts: 1, lastError: 'HTTP 500' });

    now = T0 + 5 * SECOND;
    const second = await rotator.runOnce();
    expect(second.acknowledged).toEqual([rotated.keyId]);
    expect(await pending.rowsOf(rotated.keyId)).toEqual([]);
    expect(await deliveryEvents(rotated.keyId)).toMatchObject([
      { type: 'KeyDelivered', data: { channels: ['nats', 'webhook'] } },
      { type: 'KeyDeliveryAcknowledged', data: { channel: 'webhook' } },
    ]);

    const requests = receiver.requests.slice(before);
    expect(requests).toHaveLength(2);
    for (const [i, request] of requests.entries()) {
      expect(request).toMatchObject({ method: 'POST', path: '/keyledger?src=test' });
      expect(request.headers).toMatchObject({
        'content-type': 'application/json',
        'keyledger-key-id': rotated.keyId,
        'keyledger-tenant': 'acme',
        'keyledger-owner': 'hooked',
        'keyledger-delivery-attempt': String(i + 1),
      });
      const signature = request.headers['keyledger-signature'] as string;
      expect(verifyWebhookSignature({ payload: request.body, header: signature, secret: webhook.secret, now: clock() })).toMatchObject({ valid: true });
      expect(verifyWebhookSignature({ payload: request.body, header: signature, secret: `${webhook.secret}x`, now: clock() }).valid).toBe(false);
      expect(openDelivered(ctx, request.body, { tenant: 'acme', owner: 'hooked', privateKey: owner.privateKey })).toMatchObject({ keyId: rotated.keyId, key: rotated.key });
      expect(request.body).not.toContain(rotated.key);
    }
  });

  it('sends side by side: a webhook that does not answer holds up neither other owners nor NATS, and keeps its row leased while it waits', async () => {
    const WEBHOOK_TIMEOUT = 60 * SECOND;
    now = T0;
    await tenants.registerOwnerWebhook({ tenant: 'acme', owner: 'tarpit', url: `${receiver.url}/tarpit` }, admin);
    await tenants.registerOwnerWebhook({ tenant: 'acme', owner: 'prompt', url: `${receiver.url}/prompt` }, admin);
    const tarpit = (await rotatedKey('tarpit')).rotated;
    const prompt = (await rotatedKey('prompt')).rotated;
    const tarpitCalls = () => receiver.requests.filter((request) => request.path === '/tarpit').length;
    const release = receiver.hold('/tarpit');
    let passing: Promise<unknown> | undefined;
    try {
      // Both webhooks were due first (at the rotation), the NATS sends 5 s later.
      now = T0 + 5 * SECOND;
      const started = retries(WEBHOOK_TIMEOUT).runOnce();
      passing = started;
      await eventually(
        'the other owner’s webhook answered',
        () => deliveryEvents(prompt.keyId),
        (events) => events.some((event) => event.type === 'KeyDeliveryAcknowledged'),
      );
      await eventually(
        'the tarpit owner’s key sent again on NATS',
        async () => (await envelopesFor('tarpit')).length,
        (count) => count === 2,
      );
      expect(tarpitCalls()).toBe(1);

      // The POST in flight keeps its row leased for as long as it may take…
      const [row] = (await pending.rowsOf(tarpit.keyId)).filter((stored) => stored.channel === 'webhook');
      expect(row!.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(now + WEBHOOK_TIMEOUT);
      // …so another rotator, past when the row would otherwise have fallen due again, does not send it too.
      now = T0 + 30 * SECOND;
      await retries(WEBHOOK_TIMEOUT).runOnce();
      expect(tarpitCalls()).toBe(1);
    } finally {
      release();
    }
    expect(((await passing) as { acknowledged: string[] }).acknowledged).toEqual(expect.arrayContaining([tarpit.keyId, prompt.keyId]));
    expect(await pending.rowsOf(tarpit.keyId)).toEqual([]);
  });

  it('leaves what a replica claimed and never sent to another replica at the next attempt, and replicas never send one attempt twice', async () => {
    const { rotated } = await rotatedKey('shared');
    now = T0 + 5 * SECOND;
    // This replica claims the second send and dies before sending it.
    const claimed = await new PendingDeliveries(ctx.appDb).claimDue(clock(), 100, () => new Date(now + 10 * SECOND));
    expect(claimed.map((row) => row.keyId)).toContain(rotated.keyId);
    const survivor = retries();
    expect((await survivor.runOnce()).sent).not.toContain(rotated.keyId);
    now = T0 + 15 * SECOND;
    expect((await survivor.runOnce()).sent).toContain(rotated.keyId);

    // Ten keys due at once, two replicas passing together: each key sent once.
    const more = [];
    for (let i = 0; i < 10; i += 1) more.push(await rotatedKey(`many-${i}`));
    now = T0 + HOUR - SECOND;
    const [a, b] = await Promise.all([retries().runOnce(), retries().runOnce()]);
    const sent = [...a.sent, ...b.sent];
    for (const { rotated: key } of more) expect(sent.filter((keyId) => keyId === key.keyId)).toHaveLength(1);
  });

  it('never sends key material that was not issued: a rotation interrupted before its KeyIssued is delivered with what completes it', async () => {
    now = T0;
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'crashy', publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const first = await keys.issue({ tenant: 'acme', owner: 'crashy', environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
    // The state a rotation leaves when it dies after sealing and storing the new key, before its KeyIssued.
    const replacedBy = newPrefixedId('key', clock());
    await ctx.store.append(streamIdOf('key', first.keyId), 1, [
      {
        type: 'KeyRotated',
        data: { keyId: first.keyId, replacedBy, graceEndsAt: new Date(T0 + HOUR).toISOString() },
        metadata: { actor: 'test', correlationId: 'c', causationId: 'c' },
      },
    ]);
    await deliveries.prepare({
      keyId: replacedBy,
      replaces: first.keyId,
      tenant: 'acme',
      owner: 'crashy',
      publicKey: x25519PublicKeyToBase64(owner.publicKey),
      webhook: undefined,
      plaintext: 'kl_live_materialThatWasNeverIssued000000000',
      digest: 'f'.repeat(64),
      graceEndsAt: T0 + HOUR,
      keyExpiresAt: undefined,
    });
    expect(await pending.rowsOf(replacedBy)).toHaveLength(1);
    now = T0 + 10 * SECOND;
    expect((await retries().runOnce()).sent).not.toContain(replacedBy);
    expect(await envelopesFor('crashy')).toEqual([]);

    // Rotating again completes the rotation with fresh material, and that is what is delivered.
    const completed = await rotation.rotate({ keyId: first.keyId, emergency: false, waitForVerifiers: false }, admin);
    expect(completed).toMatchObject({ keyId: replacedBy, delivery: 'DELIVERED' });
    now = T0 + 20 * SECOND;
    expect((await retries().runOnce()).sent).toContain(replacedBy);
    const sent = await envelopesFor('crashy');
    expect(sent.map((opened) => opened.key)).toEqual([completed.key, completed.key]);
    expect((await deliveryEvents(replacedBy))[0]?.data as KeyDeliveredData).toMatchObject({ keyId: replacedBy, owner: 'crashy' });
  });

  it('delivers a key whose KeyIssued committed though the rotation failed, and drops, unsent, one that was never issued', async () => {
    const dropping = new DroppingStore(ctx.appDb, ctx.auth);
    const droppingKeys = new KeyRotation({ store: dropping, hasher, index: new KeyIndex(), clock, delivery: deliveries });
    now = T0;
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'dropped', publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const issue = () => keys.issue({ tenant: 'acme', owner: 'dropped', environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
    const replacementOf = async (keyId: string) => (await loadKey(ctx.store, keyId)).record!.rotation!.replacedBy;

    // The answer to the KeyIssued is lost after its commit: the rotation fails, yet the key is issued.
    const committed = await issue();
    dropping.dropNextIssue = 'after-commit';
    expect(await codeOf(droppingKeys.rotate({ keyId: committed.keyId, graceMs: 60 * SECOND, emergency: false, waitForVerifiers: false }, admin))).toBe(
      'UNAVAILABLE',
    );
    const issuedId = await replacementOf(committed.keyId);
    const issued = (await loadKey(ctx.store, issuedId)).record;
    expect(issued).toBeDefined();
    expect((await pending.rowsOf(issuedId)).map((row) => row.digest)).toEqual([issued!.digest.digest]);

    // Lost before its commit: nothing is issued (a later rotation would issue fresh material).
    const lost = await issue();
    dropping.dropNextIssue = 'before-commit';
    expect(await codeOf(droppingKeys.rotate({ keyId: lost.keyId, graceMs: 60 * SECOND, emergency: false, waitForVerifiers: false }, admin))).toBe(
      'UNAVAILABLE',
    );
    const neverIssuedId = await replacementOf(lost.keyId);
    expect((await loadKey(ctx.store, neverIssuedId)).record).toBeUndefined();

    // The rotator delivers the issued key, whose plaintext the failed rotation never showed anyone…
    now = T0 + 5 * SECOND;
    const pass = await retries().runOnce();
    expect(pass.sent).toContain(issuedId);
    expect(pass.sent).not.toContain(neverIssuedId);
    const sent = await envelopesFor('dropped');
    expect(sent.map((opened) => opened.keyId)).toEqual([issuedId]);
    expect(hasher.material(sent[0]!.key).digest).toEqual(issued!.digest);
    // …and never the material that was not issued: dropped at the delivery's expiry at the latest.
    now = T0 + HOUR;
    expect((await retries().runOnce()).discarded).toContain(neverIssuedId);
    expect(await pending.rowsOf(neverIssuedId)).toEqual([]);
    expect(await envelopesFor('dropped')).toHaveLength(1);
  });

  it('answers what the rotator will do when storing after the KeyIssued fails: the rows stored before it deliver the key', async () => {
    /** Postgres refusing the store after the KeyIssued (and, when told, the one before it too). */
    class FailingStore extends PendingDeliveries {
      failBeforeIssue = false;
      override async storeBeforeIssue(rows: readonly NewPendingDelivery[], keyStreamId: string): Promise<void> {
        if (this.failBeforeIssue) throw new Error('simulated: connection refused');
        await super.storeBeforeIssue(rows, keyStreamId);
      }
      override storeIssued(): Promise<never> {
        return Promise.reject(new Error('simulated: connection refused'));
      }
    }
    /** JetStream refusing publishes while `refusing`. */
    class RefusingPublisher extends SealedKeyPublisher {
      refusing = false;
      override async publish(...args: Parameters<SealedKeyPublisher['publish']>): Promise<void> {
        if (this.refusing) throw new Error('simulated: JetStream did not answer');
        await super.publish(...args);
      }
    }
    const failing = new FailingStore(ctx.appDb);
    const refusing = new RefusingPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.deliverySigner);
    const failingDeliveries = new KeyDeliveries({ store: ctx.store, pending: failing, publisher: refusing, clock }, deliveries.settings);
    const failingKeys = new KeyRotation({ store: ctx.store, hasher, index: new KeyIndex(), clock, delivery: failingDeliveries });
    now = T0;
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'half-stored', publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const rotate = async () => {
      const first = await keys.issue(
        { tenant: 'acme', owner: 'half-stored', environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] },
        admin,
      );
      return failingKeys.rotate({ keyId: first.keyId, graceMs: 60 * SECOND, emergency: false, waitForVerifiers: false }, admin);
    };

    const published = await rotate();
    expect(published.delivery).toBe('DELIVERED');
    refusing.refusing = true;
    const unpublished = await rotate();
    expect(unpublished.delivery).toBe('PENDING');
    failing.failBeforeIssue = true;
    const lost = await rotate();
    expect(lost.delivery).toBe('FAILED');
    refusing.refusing = false;
    expect((await rotate()).delivery).toBe('UNRECORDED');

    // What the answers promised: the rotator sends the first two until acknowledged.
    now = T0 + 5 * SECOND;
    const pass = await retries().runOnce();
    expect(pass.sent).toEqual(expect.arrayContaining([published.keyId, unpublished.keyId]));
    expect(pass.sent).not.toContain(lost.keyId);
    const keyIds = (await envelopesFor('half-stored')).map((opened) => opened.keyId);
    expect(keyIds).toContain(unpublished.keyId);
    expect(keyIds).not.toContain(lost.keyId);
  });

  it('never sends again a delivery that has ended: rows left behind by its ender are deleted unsent', async () => {
    const acknowledged = (await rotatedKey('ended-acked')).rotated;
    const expired = (await rotatedKey('ended-expired')).rotated;
    // The state an ender leaves when it dies after recording the end, before deleting the rows.
    for (const [keyId, owner, type] of [
      [acknowledged.keyId, 'ended-acked', 'KeyDeliveryAcknowledged'],
      [expired.keyId, 'ended-expired', 'KeyDeliveryExpired'],
    ] as const)
      await ctx.store.append(streamIdOf('delivery', keyId), 1, [
        {
          type,
          data: { keyId, tenant: 'acme', owner, ...(type === 'KeyDeliveryAcknowledged' ? { channel: 'nats' } : {}), attempts: 1, at: clock().toISOString() },
          metadata: ackMetadata,
        },
      ]);
    now = T0 + 5 * SECOND;
    const pass = await retries().runOnce();
    expect(pass.sent).not.toContain(acknowledged.keyId);
    expect(pass.sent).not.toContain(expired.keyId);
    expect(pass.ended).toEqual(expect.arrayContaining([acknowledged.keyId, expired.keyId]));
    expect(await pending.rowsOf(acknowledged.keyId)).toEqual([]);
    expect(await pending.rowsOf(expired.keyId)).toEqual([]);
    expect(await envelopesFor('ended-acked')).toHaveLength(1);
    expect(await envelopesFor('ended-expired')).toHaveLength(1);
    expect(await deliveryEvents(acknowledged.keyId)).toHaveLength(2);
  });

  it('stores nothing again for a key acknowledged while its rotation was still under way', async () => {
    now = T0;
    await tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'fenced', publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const first = await keys.issue({ tenant: 'acme', owner: 'fenced', environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
    /** A revocation fence that waits long: meanwhile the rotator sends the new key from the rows stored before its KeyIssued, and its owner acknowledges it. */
    class SlowFence extends VerifierFence {
      override async waitFor(): Promise<FenceResult> {
        now = T0 + 5 * SECOND;
        expect((await retries().runOnce()).sent).toContain((await loadKey(ctx.store, first.keyId)).record!.rotation!.replacedBy);
        const [opened] = await envelopesFor('fenced');
        expect(await deliveries.acknowledge({ keyId: opened!.keyId, ackToken: opened!.ackToken! }, ackMetadata)).toMatchObject({ status: 'ACKNOWLEDGED' });
        return { complete: true, verifiers: [], waitedMs: 5 * SECOND };
      }
    }
    const fenced = new KeyRotation({
      store: ctx.store,
      hasher,
      index: new KeyIndex(),
      clock,
      delivery: deliveries,
      fence: new SlowFence(ctx.nc, ctx.topology.subjectPrefix, ctx.auth.authenticator),
    });
    const rotated = await fenced.rotate({ keyId: first.keyId, emergency: true, waitForVerifiers: true }, admin);
    expect(rotated.delivery).toBe('DELIVERED');
    expect(await pending.rowsOf(rotated.keyId)).toEqual([]);
    expect((await deliveryEvents(rotated.keyId)).map((event) => event.type)).toEqual(['KeyDelivered', 'KeyDeliveryAcknowledged']);
    now = T0 + HOUR;
    const pass = await retries().runOnce();
    expect([...pass.sent, ...pass.expired]).not.toContain(rotated.keyId);
    expect(await envelopesFor('fenced')).toHaveLength(1);
  });

  it('keeps no key’s plaintext in the pending table or the events', async () => {
    const { first, rotated } = await rotatedKey('audited');
    const stored = JSON.stringify(await ctx.ownerDb.query('select * from pending_deliveries')) + JSON.stringify(await ctx.store.readAll(START_OF_LOG, 100_000).then((page) => page.events));
    expect(stored).toContain(rotated.keyId);
    for (const key of [first.key, rotated.key]) expect(stored).not.toContain(key);
  });
});
