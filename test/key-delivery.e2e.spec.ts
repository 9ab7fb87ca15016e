import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DeliveryAckResult, OwnerWebhookView } from '@keyledger/contracts';
import { deliverySubject, streamIdOf } from '@keyledger/contracts';
import type { DeliveryRefusal } from '@keyledger/live-key-client';
import { LiveKey, WEBHOOK_SIGNATURE_HEADER, openDelivery, parseDeliveryPublicKeys, verifyWebhookSignature } from '@keyledger/live-key-client';
import { DeliverySigner, newAckToken, sealKey } from '@keyledger/key-delivery';
import { START_OF_LOG } from '@keyledger/event-store';
import { connectNats } from '@keyledger/event-bus';
import { formatNewKey } from '@keyledger/key-domain';
import type { HttpsReceiver, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, runCli, startHttpsReceiver, startServices } from '@keyledger/testing';

/** A sample internal service: it holds its key in a LiveKey and calls the verifier with it. */
describe('key delivery to a client built on libs/live-key-client', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let laterRotator: RunningServices | undefined;
  let api: NatsKeyApi;
  let clientConnection: NatsConnection;
  let live: LiveKey | undefined;
  let receiver: HttpsReceiver;
  let env: Record<string, string>;

  /** The event types recorded for one delivered key. */
  const deliveryEvents = async (keyId: string) =>
    (await ctx.store.readStream(streamIdOf('delivery', keyId))).map((event) => ({ type: event.type, data: event.data }));
  const pendingRows = async (keyId: string) => ctx.ownerDb.query<{ channel: string }[]>('select channel from pending_deliveries where key_id = $1', [keyId]);
  /** The sealed copy is deleted just after the acknowledgement is recorded: wait for it. */
  const sealedCopyDeleted = (keyId: string) =>
    eventually(
      `sealed copy of ${keyId} deleted`,
      () => pendingRows(keyId),
      (rows) => rows.length === 0,
    );

  beforeAll(async () => {
    ctx = await createTestContext('key_delivery');
    receiver = await startHttpsReceiver();
    env = {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      LOG_LEVEL: 'debug',
      DELIVERY_POLL_INTERVAL_MS: '200',
      DELIVERY_RETRY_MIN_MS: '1000',
      DELIVERY_RETRY_MAX_MS: '2000',
      // The rotator trusts the test's self-signed webhook receiver, and nothing else beyond Node's roots.
      KEYLEDGER_WEBHOOK_CA_FILE: receiver.caFile,
      // The receiver listens on loopback, which webhooks may not reach by default.
      DELIVERY_WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'rotator'], env);
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    clientConnection = await connectNats({ servers: ctx.natsUrl, name: 'sample-client' });
  });

  afterAll(async () => {
    await live?.stop();
    await clientConnection?.close();
    services?.stop();
    laterRotator?.stop();
    await receiver?.close();
    await ctx.close();
  });

  it('keeps verifying through three rotations, switching to and acknowledging each delivered key, and no key’s plaintext is stored or logged', async () => {
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'orders svc',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    const first = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'orders svc', scopes: ['orders:read'] });
    const switches: string[] = [];
    const acks: DeliveryAckResult[] = [];
    live = await LiveKey.start({
      key: first.key,
      keyId: first.keyId,
      tenant: 'acme',
      owner: 'orders svc',
      privateKey: owner.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      deliveryPublicKeys: ctx.deliveryPublicKeys,
      nc: clientConnection,
      subjectPrefix: ctx.topology.subjectPrefix,
      onKeyChanged: (state) => switches.push(state.keyId!),
      onAcknowledged: (result) => acks.push(result),
    });
    const client = live;
    await eventually(
      'first key valid',
      () => api.verify({ key: client.currentKey(), scopes: ['orders:read'] }),
      (result) => result.valid,
    );

    const keys = [first];
    for (let round = 1; round <= 3; round += 1) {
      const previous = keys.at(-1)!;
      const rotated = await api.ok<{ keyId: string; key: string; delivery: string }>('keys.rotate', { keyId: previous.keyId, graceMs: 3_600_000 });
      expect(rotated.delivery).toBe('DELIVERED');
      keys.push(rotated);
      // The client switches by itself: nothing hands it the reply.
      await eventually(
        `client switched in round ${round}`,
        () => Promise.resolve(client.currentKeyId()),
        (keyId) => keyId === rotated.keyId,
      );
      expect(client.currentKey()).toBe(rotated.key);
      const verified = await eventually(
        `new key valid in round ${round}`,
        () => api.verify({ key: client.currentKey(), scopes: ['orders:read'] }),
        (r) => r.valid,
      );
      expect(verified).toMatchObject({ valid: true, keyId: rotated.keyId });
      // The key it switched from still works during its grace.
      expect(await api.verify({ key: previous.key, scopes: ['orders:read'] })).toMatchObject({ valid: true, keyId: previous.keyId });
      // The client acknowledged it to the rotator, which recorded it and deleted the sealed copy.
      const events = await eventually(
        `acknowledgement recorded in round ${round}`,
        () => deliveryEvents(rotated.keyId),
        (recorded) => recorded.some((event) => event.type === 'KeyDeliveryAcknowledged'),
      );
      expect(events).toMatchObject([{ type: 'KeyDelivered' }, { type: 'KeyDeliveryAcknowledged', data: { keyId: rotated.keyId, channel: 'nats' } }]);
      expect(await sealedCopyDeleted(rotated.keyId)).toEqual([]);
    }
    expect(switches).toEqual(keys.slice(1).map((key) => key.keyId));
    await eventually(
      'every acknowledgement answered',
      () => acks.filter((ack) => ack.status === 'ACKNOWLEDGED').map((ack) => ack.keyId),
      (acknowledged) => acknowledged.length === 3,
    );
    expect(new Set(acks.map((ack) => ack.keyId))).toEqual(new Set(keys.slice(1).map((key) => key.keyId)));

    const stored = JSON.stringify(await ctx.store.readAll(START_OF_LOG, 100_000).then((page) => page.events)) + JSON.stringify(await ctx.ownerDb.query('select * from pending_deliveries'));
    const logs = services.logs();
    expect(stored).toContain('KeyDelivered');
    expect(logs.length).toBeGreaterThan(0);
    for (const { key } of keys) {
      expect(stored).not.toContain(key);
      expect(logs).not.toContain(key);
    }
  });

  it('gives a client that was offline the keys rotated meanwhile when it starts, and resumes after what it processed', async () => {
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'batch',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    const first = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'batch', scopes: ['orders:read'] });
    const second = await api.ok<{ keyId: string; key: string }>('keys.rotate', { keyId: first.keyId, graceMs: 3_600_000 });
    const third = await api.ok<{ keyId: string; key: string }>('keys.rotate', { keyId: second.keyId, graceMs: 3_600_000 });

    const late = await LiveKey.start({
      key: first.key,
      keyId: first.keyId,
      tenant: 'acme',
      owner: 'batch',
      privateKey: owner.privateKey,
      deliveryPublicKeys: ctx.deliveryPublicKeys,
      nc: clientConnection,
      subjectPrefix: ctx.topology.subjectPrefix,
    });
    await eventually(
      'caught up',
      () => Promise.resolve(late.currentKeyId()),
      (keyId) => keyId === third.keyId,
    );
    expect(late.currentKey()).toBe(third.key);
    const position = late.sequence();
    await late.stop();

    // Restarted with the key it had and its position: nothing to replay, and the next rotation arrives.
    const resumed = await LiveKey.start({
      key: third.key,
      keyId: third.keyId,
      tenant: 'acme',
      owner: 'batch',
      privateKey: owner.privateKey,
      deliveryPublicKeys: ctx.deliveryPublicKeys,
      nc: clientConnection,
      subjectPrefix: ctx.topology.subjectPrefix,
      startAfterSequence: position,
    });
    const fourth = await api.ok<{ keyId: string; key: string }>('keys.rotate', { keyId: third.keyId, graceMs: 3_600_000 });
    await eventually(
      'resumed client switched',
      () => Promise.resolve(resumed.currentKeyId()),
      (keyId) => keyId === fourth.keyId,
    );
    expect(resumed.sequence()).toBeGreaterThan(position);
    await resumed.stop();
  });

  it('lets two services of one owner each follow the rotations of their own key', async () => {
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'payments',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    const issue = () => api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'payments', scopes: ['orders:read'] });
    const [a, b] = [await issue(), await issue()];
    const follow = (key: { keyId: string; key: string }) =>
      LiveKey.start({
        ...key,
        tenant: 'acme',
        owner: 'payments',
        privateKey: owner.privateKey,
        deliveryPublicKeys: ctx.deliveryPublicKeys,
        nc: clientConnection,
        subjectPrefix: ctx.topology.subjectPrefix,
      });
    const [holderOfA, holderOfB] = [await follow(a), await follow(b)];

    const newA = await api.ok<{ keyId: string; key: string }>('keys.rotate', { keyId: a.keyId, graceMs: 3_600_000 });
    await eventually(
      'the holder of a switched',
      () => Promise.resolve(holderOfA.currentKeyId()),
      (keyId) => keyId === newA.keyId,
    );
    // b's holder read the same envelope (one subject per owner) and kept its own key.
    await eventually(
      'the holder of b read past it',
      () => Promise.resolve(holderOfB.sequence()),
      (sequence) => sequence >= holderOfA.sequence(),
    );
    expect(holderOfB.currentKeyId()).toBe(b.keyId);

    const newB = await api.ok<{ keyId: string; key: string }>('keys.rotate', { keyId: b.keyId, graceMs: 3_600_000 });
    await eventually(
      'the holder of b switched',
      () => Promise.resolve(holderOfB.currentKeyId()),
      (keyId) => keyId === newB.keyId,
    );
    expect(holderOfB.currentKey()).toBe(newB.key);
    expect(holderOfA.currentKey()).toBe(newA.key);
    await Promise.all([holderOfA.stop(), holderOfB.stop()]);
  });

  it('skips an envelope it cannot open and keeps its key', async () => {
    const stranger = generateKeyPairSync('x25519');
    const errors: unknown[] = [];
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'mixed',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    const first = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'mixed', scopes: ['orders:read'] });
    const wrong = await LiveKey.start({
      key: first.key,
      keyId: first.keyId,
      tenant: 'acme',
      owner: 'mixed',
      privateKey: stranger.privateKey,
      deliveryPublicKeys: ctx.deliveryPublicKeys,
      nc: clientConnection,
      subjectPrefix: ctx.topology.subjectPrefix,
      onError: (error) => errors.push(error),
    });
    await api.ok('keys.rotate', { keyId: first.keyId, graceMs: 3_600_000 });
    await eventually(
      'refused envelope reported',
      () => Promise.resolve(errors.length),
      (count) => count >= 1,
    );
    expect(errors[0]).toMatchObject({ code: 'SEALED_KEY_OPEN_FAILED' });
    expect(wrong.currentKey()).toBe(first.key);
    await wrong.stop();
  });

  it('refuses keys a stranger seals to the owner’s public key and publishes on its subject, reports each refusal, and still takes the rotator’s next key', async () => {
    const owner = generateKeyPairSync('x25519');
    const publicKey = owner.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await api.ok('owners.register-public-key', { tenant: 'acme', owner: 'targeted', publicKey });
    const first = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'targeted', scopes: ['orders:read'] });
    const refusals: DeliveryRefusal[] = [];
    const switches: string[] = [];
    const errors: unknown[] = [];
    // The client is given the public keys as an operator gets them from the signing keys.
    const printed = await runCli(ctx, ['deliveries', 'public-key'], { env: { KEYLEDGER_DELIVERY_SIGNING_KEYS: ctx.serviceEnv['KEYLEDGER_DELIVERY_SIGNING_KEYS']! } });
    expect(printed).toMatchObject({ code: 0, stdout: `${ctx.deliveryPublicKeys}\n` });
    const target = await LiveKey.start({
      key: first.key,
      keyId: first.keyId,
      tenant: 'acme',
      owner: 'targeted',
      privateKey: owner.privateKey,
      deliveryPublicKeys: printed.stdout,
      nc: clientConnection,
      subjectPrefix: ctx.topology.subjectPrefix,
      onRefused: (refusal) => refusals.push(refusal),
      onKeyChanged: (state) => switches.push(state.keyId!),
      onError: (error) => errors.push(error),
    });

    // The stranger knows the owner's public key (it is public) and may publish on the owner's
    // delivery subject. It seals a key of its choice as a rotation of the key the client holds,
    // with a newer id: a client that only opened envelopes would switch to it.
    const stranger = await connectNats({ servers: ctx.natsUrl, name: 'stranger' });
    const strangerJs = jetstream(stranger);
    const chosen = formatNewKey('kl', 'live', (n) => randomBytes(n));
    const forged = sealKey('key_7zzzzzzzzzzzzzzzzzzzzzzzzz', chosen, publicKey, { ackToken: newAckToken(), replaces: first.keyId });
    const fields = { tenant: 'acme', owner: 'targeted', issuedAt: new Date().toISOString(), envelope: forged };
    const ownSigner = (version: number) => new DeliverySigner([{ version, secret: randomBytes(32) }]);
    // A genuine delivery of a neighbour that registered the same public key, replayed on this owner's subject.
    await api.ok('owners.register-public-key', { tenant: 'acme', owner: 'neighbour', publicKey });
    const neighbour = await api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'neighbour', scopes: ['orders:read'] });
    const neighbourRotated = await api.ok<{ keyId: string }>('keys.rotate', { keyId: neighbour.keyId, graceMs: 3_600_000 });
    const neighbourDelivery = await (
      await ctx.js.consumers.get(ctx.topology.deliveryStream, { filter_subjects: deliverySubject(ctx.topology.subjectPrefix, 'acme', 'neighbour') })
    ).next({ expires: 5000 });
    expect(neighbourDelivery?.json()).toMatchObject({ envelope: { keyId: neighbourRotated.keyId } });
    const subject = deliverySubject(ctx.topology.subjectPrefix, 'acme', 'targeted');
    for (const body of [
      JSON.stringify(forged), // unsigned, as every delivery was before they were signed
      ownSigner(1).body(fields), // signed with the stranger's key under the installation's key id
      ownSigner(9).body(fields), // under a key id the client was not given
      neighbourDelivery!.data, // genuine, for someone else
      '{"delivery":1', // not even JSON
    ])
      await strangerJs.publish(subject, body);
    await stranger.close();

    await eventually(
      'every forgery refused',
      () => Promise.resolve(refusals.length),
      (count) => count === 5,
    );
    expect(refusals.map((refusal) => refusal.reason)).toEqual(['UNSIGNED', 'BAD_SIGNATURE', 'UNKNOWN_SIGNING_KEY', 'WRONG_RECIPIENT', 'MALFORMED']);
    expect(target.refusals()).toEqual({ UNSIGNED: 1, MALFORMED: 1, UNKNOWN_SIGNING_KEY: 1, BAD_SIGNATURE: 1, WRONG_RECIPIENT: 1 });
    expect(target.currentKey()).toBe(first.key);
    expect(target.currentKeyId()).toBe(first.keyId);
    expect(switches).toEqual([]);
    // Nothing was opened, so nothing was acknowledged (an acknowledgement the rotator refused would be here).
    expect(errors).toEqual([]);

    const rotated = await api.ok<{ keyId: string; key: string }>('keys.rotate', { keyId: first.keyId, graceMs: 3_600_000 });
    await eventually(
      'the genuine rotation taken',
      () => Promise.resolve(target.currentKeyId()),
      (keyId) => keyId === rotated.keyId,
    );
    expect(target.currentKey()).toBe(rotated.key);
    expect(switches).toEqual([rotated.keyId]);
    expect(
      await eventually(
        'the delivered key verifies',
        () => api.verify({ key: target.currentKey(), scopes: ['orders:read'] }),
        (result) => result.valid,
      ),
    ).toMatchObject({ valid: true, keyId: rotated.keyId });
    await eventually(
      'its acknowledgement recorded',
      () => deliveryEvents(rotated.keyId),
      (recorded) => recorded.some((event) => event.type === 'KeyDeliveryAcknowledged'),
    );
    expect(refusals).toHaveLength(5);
    await target.stop();
  });

  it('POSTs a rotated key sealed and signed to the owner’s HTTPS webhook, whose 2xx acknowledges it', async () => {
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'hooked',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    const webhook = await api.ok<OwnerWebhookView>('owners.register-webhook', { tenant: 'acme', owner: 'hooked', url: `${receiver.url}/hooks/keyledger` });
    const first = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'hooked', scopes: ['orders:read'] });
    const rotated = await api.ok<{ keyId: string; key: string; delivery: string }>('keys.rotate', { keyId: first.keyId, graceMs: 3_600_000 });
    expect(rotated.delivery).toBe('DELIVERED');

    const request = await eventually(
      'webhook called',
      () => receiver.requests.find((received) => received.headers['keyledger-key-id'] === rotated.keyId),
      Boolean,
    );
    // What a receiver does: check the webhook's HMAC over the raw body, then open the delivery,
    // which checks Keyledger's signature (for this tenant and owner) before unsealing it.
    expect(
      verifyWebhookSignature({ payload: request!.body, header: request!.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string, secret: webhook.secret }),
    ).toMatchObject({
      valid: true,
    });
    const receiving = { tenant: 'acme', owner: 'hooked', privateKey: owner.privateKey, publicKeys: parseDeliveryPublicKeys(ctx.deliveryPublicKeys) };
    expect(openDelivery(request!.body, receiving)).toMatchObject({ ok: true, opened: { keyId: rotated.keyId, key: rotated.key } });
    // Its origin holds without the webhook secret: the same body for another owner is refused.
    expect(openDelivery(request!.body, { ...receiving, owner: 'other' })).toEqual({ ok: false, reason: 'WRONG_RECIPIENT' });
    expect(request!.body).not.toContain(rotated.key);

    const events = await eventually(
      'webhook acknowledgement recorded',
      () => deliveryEvents(rotated.keyId),
      (recorded) => recorded.some((event) => event.type === 'KeyDeliveryAcknowledged'),
    );
    expect(events).toMatchObject([
      { type: 'KeyDelivered', data: { channels: ['nats', 'webhook'] } },
      { type: 'KeyDeliveryAcknowledged', data: { channel: 'webhook' } },
    ]);
    expect(await sealedCopyDeleted(rotated.keyId)).toEqual([]);
    expect(services.logs()).not.toContain(webhook.secret);
  });

  it('a rotator killed while a webhook keeps failing leaves the delivery to the next rotator, which delivers it', async () => {
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'flaky',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    await api.ok('owners.register-webhook', { tenant: 'acme', owner: 'flaky', url: `${receiver.url}/flaky` });
    receiver.defaultStatus = 503;
    const first = await api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'flaky', scopes: ['orders:read'] });
    const rotated = await api.ok<{ keyId: string }>('keys.rotate', { keyId: first.keyId, graceMs: 3_600_000 });
    const calls = () => receiver.requests.filter((received) => received.headers['keyledger-key-id'] === rotated.keyId).length;
    await eventually('webhook tried and refused twice', calls, (count) => count >= 2);

    services.of('rotator')[0]!.child.kill('SIGKILL');
    expect((await deliveryEvents(rotated.keyId)).map((event) => event.type)).toEqual(['KeyDelivered']);
    expect((await pendingRows(rotated.keyId)).map((row) => row.channel).sort()).toEqual(['nats', 'webhook']);

    receiver.defaultStatus = 200;
    laterRotator = await startServices(ctx, ['rotator'], env);
    await eventually(
      'delivered by the next rotator',
      () => deliveryEvents(rotated.keyId),
      (recorded) => recorded.some((event) => event.type === 'KeyDeliveryAcknowledged'),
    );
    expect(await sealedCopyDeleted(rotated.keyId)).toEqual([]);
  });
});
