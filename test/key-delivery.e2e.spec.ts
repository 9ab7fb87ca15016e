import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { LiveKey } from '@keyledger/client';
import { START_OF_LOG } from '@keyledger/event-store';
import { connectNats } from '@keyledger/event-bus';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, startServices } from '@keyledger/testing';

/** A sample internal service: it holds its key in a LiveKey and calls the verifier with it. */
describe('key delivery to a client built on libs/client', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let api: NatsKeyApi;
  let clientConnection: NatsConnection;
  let live: LiveKey | undefined;

  beforeAll(async () => {
    ctx = await createTestContext('key_delivery');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, LOG_LEVEL: 'debug' });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    clientConnection = await connectNats({ servers: ctx.natsUrl, name: 'sample-client' });
  });

  afterAll(async () => {
    await live?.stop();
    await clientConnection?.close();
    services?.stop();
    await ctx.close();
  });

  it('keeps verifying through three rotations, switching to each delivered key, and no key’s plaintext is stored or logged', async () => {
    const owner = generateKeyPairSync('x25519');
    await api.ok('owners.register-public-key', {
      tenant: 'acme',
      owner: 'orders svc',
      publicKey: owner.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    });
    const first = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'orders svc', scopes: ['orders:read'] });
    const switches: string[] = [];
    live = await LiveKey.start({
      key: first.key,
      keyId: first.keyId,
      tenant: 'acme',
      owner: 'orders svc',
      privateKey: owner.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      nc: clientConnection,
      subjectPrefix: ctx.topology.subjectPrefix,
      onKeyChanged: (state) => switches.push(state.keyId!),
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
    }
    expect(switches).toEqual(keys.slice(1).map((key) => key.keyId));

    const stored = JSON.stringify(await ctx.store.readAll(START_OF_LOG, 100_000));
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
      nc: clientConnection,
      subjectPrefix: ctx.topology.subjectPrefix,
      onError: (error) => errors.push(error),
    });
    await api.ok('keys.rotate', { keyId: first.keyId, graceMs: 3_600_000 });
    await eventually(
      'refused envelope reported',
      () => Promise.resolve(errors.length),
      (count) => count === 1,
    );
    expect(errors[0]).toMatchObject({ code: 'SEALED_KEY_OPEN_FAILED' });
    expect(wrong.currentKey()).toBe(first.key);
    await wrong.stop();
  });
});
