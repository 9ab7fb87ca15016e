import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type {
  NotificationWebhookSetData,
  NotificationWebhookView,
  OwnerPublicKeyRegisteredData,
  OwnerPublicKeyView,
  OwnerWebhookRegisteredData,
  OwnerWebhookView,
} from '@keyledger/contracts';
import { streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { CliRun, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, runCli, startServices } from '@keyledger/testing';

/** The raw 32 bytes of an X25519 public key, base64. */
const rawBase64 = (pem: string): string =>
  Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
    .subarray(-32)
    .toString('base64');

describe("owner public keys and webhooks, and tenants' notification webhooks", () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let api: NatsKeyApi;
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-owner-keys-'));

  const cli = (args: string[]): Promise<CliRun> => runCli(ctx, args, { adminKey: rootKey });

  beforeAll(async () => {
    ctx = await createTestContext('owner_public_keys');
    services = await startServices(ctx, ['relay', 'issuer'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers a PEM file and then a base64 key with the CLI, recording the latest as raw base64 on the tenant stream', async () => {
    const first = generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const second = generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const file = join(dir, 'owner.pub.pem');
    writeFileSync(file, first);

    const fromFile = await cli(['owners', 'register-public-key', '--tenant', 'acme', '--owner', 'billing', '--public-key', file, '--json']);
    expect(fromFile).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(fromFile.stdout)).toEqual({ tenant: 'acme', owner: 'billing', publicKey: rawBase64(first) });
    const inline = await cli(['owners', 'register-public-key', '--tenant', 'acme', '--owner', 'billing', '--public-key', rawBase64(second)]);
    expect(inline).toMatchObject({ code: 0, stderr: '' });
    expect(inline.stdout).toContain(rawBase64(second));

    const events = (await ctx.store.readStream(streamIdOf('tenant', 'acme'))).filter((event) => event.type === 'OwnerPublicKeyRegistered');
    expect(events.map((event) => event.data as OwnerPublicKeyRegisteredData)).toEqual([
      { tenant: 'acme', owner: 'billing', publicKey: rawBase64(first) },
      { tenant: 'acme', owner: 'billing', publicKey: rawBase64(second) },
    ]);
    expect(events[1]!.metadata.actor).toBeDefined();
  });

  it('refuses keys that are not X25519, callers without write access and callers without a key', async () => {
    const ed25519 = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect((await api.call('owners.register-public-key', { tenant: 'acme', owner: 'billing', publicKey: ed25519 })).error?.code).toBe('INVALID_ARGUMENT');
    expect((await api.call('owners.register-public-key', { tenant: 'acme', owner: 'billing', publicKey: 'AAAA' })).error?.code).toBe('INVALID_ARGUMENT');
    expect((await api.call('owners.register-public-key', { tenant: 'acme', owner: 'billing' })).error?.code).toBe('INVALID_ARGUMENT');
    const bad = await cli(['owners', 'register-public-key', '--tenant', 'acme', '--owner', 'billing', '--public-key', 'not-a-key']);
    expect(bad.code).not.toBe(0);

    const publicKey = rawBase64(generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const readOnly = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'auditor', scopes: ['keyledger:keys:read'] });
    await eventually('read-only key usable', () => api.call('keys.list', { tenant: 'acme' }, readOnly.key).then((r) => r.ok), Boolean);
    expect((await api.call('owners.register-public-key', { tenant: 'acme', owner: 'billing', publicKey }, readOnly.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('owners.register-public-key', { tenant: 'acme', owner: 'billing', publicKey }, null)).error?.code).toBe('UNAUTHENTICATED');
    // Nothing refused was recorded: the two registrations of the first test only.
    const events = (await ctx.store.readStream(streamIdOf('tenant', 'acme'))).filter((event) => event.type === 'OwnerPublicKeyRegistered');
    expect(events).toHaveLength(2);
    expect(await api.ok<OwnerPublicKeyView>('owners.register-public-key', { tenant: 'globex', owner: 'svc', publicKey })).toEqual({
      tenant: 'globex',
      owner: 'svc',
      publicKey,
    });
  });

  it('registers a webhook with the CLI and over gRPC, answering its signing secret once and recording neither the secret nor an http URL', async () => {
    const run = await cli(['owners', 'register-webhook', '--tenant', 'acme', '--owner', 'billing', '--url', 'https://hooks.example/keyledger', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const viaCli = JSON.parse(run.stdout) as OwnerWebhookView;
    expect(viaCli).toMatchObject({ tenant: 'acme', owner: 'billing', url: 'https://hooks.example/keyledger' });
    expect(viaCli.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const table = await cli(['owners', 'register-webhook', '--tenant', 'acme', '--owner', 'orders', '--url', 'https://hooks.example/orders']);
    expect(table.stdout).toMatch(/signing secret \(shown once\): whsec_/);

    const keys = grpcClient(`127.0.0.1:${services.of('issuer')[0]!.grpcPort}`, 'KeyService');
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${rootKey}`);
    try {
      const viaGrpc = await keys.call('RegisterOwnerWebhook', { tenant: 'acme', owner: 'billing', url: 'https://hooks.example/v2' }, metadata);
      expect(viaGrpc).toMatchObject({ tenant: 'acme', owner: 'billing', url: 'https://hooks.example/v2' });
      // Registering again replaces the webhook and its secret.
      expect(viaGrpc.secret).not.toBe(viaCli.secret);
      await expect(keys.call('RegisterOwnerWebhook', { tenant: 'acme', owner: 'billing', url: 'http://hooks.example/plain' }, metadata)).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
      });
    } finally {
      keys.close();
    }

    for (const url of ['http://hooks.example/plain', 'https://user:pw@hooks.example/', 'https://hooks.example/#frag', 'not a url'])
      expect((await api.call('owners.register-webhook', { tenant: 'acme', owner: 'billing', url })).error?.code).toBe('INVALID_ARGUMENT');
    const readOnly = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'hook-auditor', scopes: ['keyledger:keys:read'] });
    await eventually('read-only key usable', () => api.call('keys.list', { tenant: 'acme' }, readOnly.key).then((r) => r.ok), Boolean);
    expect((await api.call('owners.register-webhook', { tenant: 'acme', owner: 'billing', url: 'https://hooks.example/x' }, readOnly.key)).error?.code).toBe(
      'PERMISSION_DENIED',
    );

    const events = (await ctx.store.readStream(streamIdOf('tenant', 'acme'))).filter((event) => event.type === 'OwnerWebhookRegistered');
    expect(events.map((event) => (event.data as OwnerWebhookRegisteredData).url)).toEqual([
      'https://hooks.example/keyledger',
      'https://hooks.example/orders',
      'https://hooks.example/v2',
    ]);
    const stored = JSON.stringify(events);
    expect(stored).not.toContain(viaCli.secret);
    expect(stored).not.toContain('whsec_');
  });

  it("registers a tenant's notification webhook over NATS, gRPC and the CLI, refusing other tenants' admins, bad URLs and no key, and removes it", async () => {
    const run = await cli(['tenants', 'notification-webhook', 'set', '--tenant', 'acme', '--url', 'https://ops.example/notify']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/signing secret \(shown once\): whsec_[A-Za-z0-9_-]{43}/);
    const viaNats = await api.ok<NotificationWebhookView>('tenants.register-notification-webhook', { tenant: 'acme', url: 'https://ops.example/v2' });
    expect(viaNats).toMatchObject({ tenant: 'acme', url: 'https://ops.example/v2', secret: expect.stringMatching(/^whsec_/) });
    const keys = grpcClient(`127.0.0.1:${services.of('issuer')[0]!.grpcPort}`, 'KeyService');
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${rootKey}`);
    try {
      const viaGrpc = await keys.call('RegisterNotificationWebhook', { tenant: 'acme', url: 'https://ops.example/v3' }, metadata);
      expect(viaGrpc).toMatchObject({ tenant: 'acme', url: 'https://ops.example/v3' });
      expect(viaGrpc.secret).toMatch(/^whsec_/);
      expect(viaGrpc.secret).not.toBe(viaNats.secret);
      await expect(keys.call('RegisterNotificationWebhook', { tenant: 'acme', url: 'http://ops.example/plain' }, metadata)).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
      });
    } finally {
      keys.close();
    }

    for (const body of [
      { tenant: 'acme', url: 'http://ops.example/' },
      { tenant: 'acme', url: 'https://u:p@ops.example/' },
      { tenant: 'acme' },
      { tenant: 'acme', url: 'https://ops.example/', extra: 1 },
    ])
      expect((await api.call('tenants.register-notification-webhook', body)).error?.code).toBe('INVALID_ARGUMENT');
    const globexAdmin = await api.ok<{ key: string }>('keys.issue', {
      tenant: 'globex',
      owner: 'ops',
      scopes: ['keyledger:keys:write', 'keyledger:keys:read'],
    });
    await eventually('the globex admin key usable', () => api.call('keys.list', { tenant: 'globex' }, globexAdmin.key).then((r) => r.ok), Boolean);
    expect((await api.call('tenants.register-notification-webhook', { tenant: 'acme', url: 'https://evil.example/' }, globexAdmin.key)).error?.code).toBe(
      'PERMISSION_DENIED',
    );
    expect((await api.call('tenants.remove-notification-webhook', { tenant: 'acme' }, globexAdmin.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('tenants.register-notification-webhook', { tenant: 'acme', url: 'https://evil.example/' }, null)).error?.code).toBe(
      'UNAUTHENTICATED',
    );
    // Its own tenant it may set.
    expect((await api.call('tenants.register-notification-webhook', { tenant: 'globex', url: 'https://globex.example/' }, globexAdmin.key)).ok).toBe(true);

    const removed = await cli(['tenants', 'notification-webhook', 'remove', '--tenant', 'acme', '--json']);
    expect(JSON.parse(removed.stdout)).toEqual({ tenant: 'acme', url: null, secret: null });
    const events = (await ctx.store.readStream(streamIdOf('tenant', 'acme'))).filter((event) => event.type === 'NotificationWebhookSet');
    // Nothing refused was recorded, and no secret.
    expect(events.map((event) => (event.data as NotificationWebhookSetData).url)).toEqual([
      'https://ops.example/notify',
      'https://ops.example/v2',
      'https://ops.example/v3',
      null,
    ]);
    expect(JSON.stringify(events)).not.toContain('whsec_');
  });
});
