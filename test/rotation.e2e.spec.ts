import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { streamIdOf } from '@keyledger/contracts';
import type { KeyView } from '@keyledger/contracts';
import { newPrefixedId } from '@keyledger/ids';
import { formatNewKey } from '@keyledger/key-domain';
import type { CliRun, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, runCli, startServices, testMetadata } from '@keyledger/testing';

/** The installation's default grace, so a rotation without one is told apart from the built-in 24 h. */
const DEFAULT_GRACE_MS = 600_000;

interface Rotated {
  keyId: string;
  key: string;
  view: KeyView;
  previous: KeyView;
  fence?: { complete: boolean; verifiers: unknown[] } | null;
}

describe('key rotation', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let api: NatsKeyApi;
  let ports: number[] = [];

  async function authorize(port: number, key: string): Promise<{ status: number; code: string | null; keyId: string | null }> {
    const response = await fetch(`http://127.0.0.1:${port}/v1/authorize`, { headers: { Authorization: `Bearer ${key}`, 'X-Real-IP': '10.1.2.3' } });
    return { status: response.status, code: response.headers.get('x-keyledger-code'), keyId: response.headers.get('x-keyledger-key-id') };
  }

  /** Waits until every verifier answers `code` for the key. */
  async function everywhere(key: string, code: string): Promise<void> {
    for (const port of ports)
      await eventually(
        `${code} on ${port}`,
        () => authorize(port, key).then((r) => r.code),
        (c) => c === code,
      );
  }

  const cli = (args: string[]): Promise<CliRun> => runCli(ctx, args, { adminKey: rootKey });

  beforeAll(async () => {
    ctx = await createTestContext('rotation');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'verifier'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      KEYLEDGER_ROTATION_GRACE_MS: String(DEFAULT_GRACE_MS),
    });
    ports = services.of('verifier').map((verifier) => verifier.httpPort);
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await ctx.close();
  });

  it('keeps both keys valid during the grace, the old one EXPIRED after, with every setting and the remaining credits carried over', async () => {
    const old = await api.ok<{ keyId: string; key: string }>('keys.issue', {
      tenant: 'acme',
      owner: 'billing',
      name: 'billing worker',
      scopes: ['orders:*'],
      ipAllowlist: ['10.0.0.0/8'],
      metadata: { team: 'payments' },
      rateLimits: [{ limit: 1000, windowMs: 60_000 }],
      credits: { remaining: 100, refill: { amount: 100, interval: 'monthly' } },
    });
    await everywhere(old.key, 'VALID');
    // Each VALID once; a verifier still waiting for its share of the quota answers no and charges nothing.
    for (let i = 0; i < 3; i += 1)
      await eventually(
        'the old key charged 10 credits',
        () => api.verify({ key: old.key, ip: '10.1.2.3', cost: 10 }),
        (result) => result.valid,
      );
    // One credit for each verifier's first VALID answer, 30 over NATS: the verifiers flush them every second.
    await eventually(
      'consumption flushed',
      () => api.ok<KeyView>('keys.get', { keyId: old.keyId }).then((view) => view.credits?.remaining),
      (remaining) => remaining === 68,
    );

    const startedAt = Date.now();
    const rotated = await api.ok<Rotated>('keys.rotate', { keyId: old.keyId, graceMs: 3000 });
    expect(rotated.key).toMatch(/^kl_live_[0-9A-Za-z]{38}$/);
    expect(rotated.keyId).not.toBe(old.keyId);
    expect(rotated.view).toMatchObject({
      tenant: 'acme',
      owner: 'billing',
      name: 'billing worker',
      environment: 'live',
      status: 'active',
      scopes: ['orders:*'],
      ipAllowlist: ['10.0.0.0/8'],
      metadata: { team: 'payments' },
      rateLimits: [{ limit: 1000, windowMs: 60_000 }],
      credits: { remaining: 68, refill: { amount: 100, interval: 'monthly' } },
      rotatedFrom: old.keyId,
      rotation: null,
    });
    expect(rotated.previous).toMatchObject({ keyId: old.keyId, status: 'active', rotation: { replacedBy: rotated.keyId, emergency: false } });
    const graceEndsAt = Date.parse(rotated.previous.rotation!.graceEndsAt);
    expect(graceEndsAt).toBeGreaterThanOrEqual(startedAt + 3000);
    expect(graceEndsAt).toBeLessThan(Date.now() + 3000);

    // One KeyRotated on the old key's stream, and the new key's KeyIssued names the old one.
    const oldStream = await ctx.store.readStream(streamIdOf('key', old.keyId));
    expect(oldStream.map((event) => event.type)).toEqual(['KeyIssued', 'KeyRotated']);
    expect(oldStream[1]!.data).toEqual({
      keyId: old.keyId,
      replacedBy: rotated.keyId,
      graceEndsAt: new Date(graceEndsAt).toISOString(),
      rotatedAt: new Date(graceEndsAt - 3000).toISOString(),
    });
    const newStream = await ctx.store.readStream(streamIdOf('key', rotated.keyId));
    expect(newStream.map((event) => [event.type, (event.data as { rotatedFrom?: string }).rotatedFrom])).toEqual([['KeyIssued', old.keyId]]);

    // During the grace: both keys work everywhere, each as itself.
    await everywhere(rotated.key, 'VALID');
    for (const port of ports) expect(await authorize(port, old.key)).toEqual({ status: 200, code: 'VALID', keyId: old.keyId });
    expect(await api.verify({ key: old.key, ip: '10.1.2.3' })).toMatchObject({ valid: true, keyId: old.keyId, expiresAt: new Date(graceEndsAt).toISOString() });
    expect(Date.now()).toBeLessThan(graceEndsAt);
    expect(await api.verify({ key: rotated.key, ip: '10.1.2.3', scopes: ['orders:read'], cost: 6 })).toMatchObject({ valid: true, keyId: rotated.keyId });
    expect((await api.verify({ key: rotated.key, ip: '192.168.1.1' })).code).toBe('FORBIDDEN');

    // After it: the old key is EXPIRED, the new one keeps working.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, graceEndsAt - Date.now()) + 50));
    for (const port of ports) {
      expect(await authorize(port, old.key)).toMatchObject({ status: 401, code: 'EXPIRED' });
      expect(await authorize(port, rotated.key)).toMatchObject({ status: 200, code: 'VALID' });
    }
    expect((await api.ok<KeyView>('keys.get', { keyId: old.keyId })).status).toBe('expired');
    // The new key's quota goes on from what the old one had left: 68, less 2 + 6 (+ 2 after the grace).
    await eventually(
      'new key consumption flushed',
      () => api.ok<KeyView>('keys.get', { keyId: rotated.keyId }).then((view) => view.credits?.remaining),
      (remaining) => remaining === 58,
    );

    // A key is rotated once: a second rotation of the old key is refused and records nothing.
    expect((await api.call('keys.rotate', { keyId: old.keyId })).error?.code).toBe('INVALID_TRANSITION');
    expect(await ctx.store.streamVersion(streamIdOf('key', old.keyId))).toBe(2);
  });

  it('changes settings in the same call, from the CLI, with the installation’s default grace', async () => {
    const old = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'search', scopes: ['orders:read'] });
    await everywhere(old.key, 'VALID');
    const run = await cli(['keys', 'rotate', old.keyId, '--scopes', 'orders:read,orders:write', '--meta', 'rotated=yes', '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const rotated = JSON.parse(run.stdout) as Rotated;
    expect(rotated.view).toMatchObject({ owner: 'search', scopes: ['orders:read', 'orders:write'], metadata: { rotated: 'yes' }, rotatedFrom: old.keyId });
    const grace = Date.parse(rotated.previous.rotation!.graceEndsAt) - Date.now();
    expect(grace).toBeGreaterThan(DEFAULT_GRACE_MS - 30_000);
    expect(grace).toBeLessThanOrEqual(DEFAULT_GRACE_MS);
    await everywhere(rotated.key, 'VALID');
    expect(await api.verify({ key: rotated.key, ip: '10.1.2.3', scopes: ['orders:write'] })).toMatchObject({ valid: true });
    // The old key keeps its own scopes through its grace.
    expect((await api.verify({ key: old.key, ip: '10.1.2.3', scopes: ['orders:write'] })).code).toBe('INSUFFICIENT_PERMISSIONS');
    expect(await api.verify({ key: old.key, ip: '10.1.2.3', scopes: ['orders:read'] })).toMatchObject({ valid: true });

    const text = await cli(['keys', 'rotate', rotated.keyId, '--grace', '1h']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/key \(shown once\): kl_live_[0-9A-Za-z]{38}\n$/);
    expect(text.stdout).toContain(`old key ${rotated.keyId}: valid until`);
    expect(await cli(['keys', 'rotate', rotated.keyId, '--grace', 'soon'])).toMatchObject({ code: 2 });
  });

  it('revokes the old key at once in an emergency (gRPC), once every verifier has applied it', async () => {
    const old = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'leaky', scopes: ['orders:read'] });
    await everywhere(old.key, 'VALID');
    const keys = grpcClient(`127.0.0.1:${services.of('issuer')[0]!.grpcPort}`, 'KeyService');
    try {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${rootKey}`);
      const rotated = await keys.call('RotateKey', { keyId: old.keyId, emergency: true }, metadata);
      expect(rotated.previous).toMatchObject({ status: 'revoked', rotation: { replacedBy: rotated.keyId, emergency: true } });
      expect(rotated.fence).toMatchObject({ complete: true });
      expect(rotated.fence!.verifiers).toHaveLength(2);
      // No waiting: the fence guarantees every verifier already refuses the old key.
      for (const port of ports) expect(await authorize(port, old.key)).toMatchObject({ status: 401, code: 'REVOKED' });
      expect(rotated.view).toMatchObject({ owner: 'leaky', scopes: ['orders:read'], rotatedFrom: old.keyId, status: 'active' });
      await everywhere(rotated.key, 'VALID');
      const refused = keys.call('RotateKey', { keyId: old.keyId, graceMs: 1000 }, metadata).then(
        () => undefined,
        (error: grpc.ServiceError) => error.code,
      );
      expect(await refused).toBe(grpc.status.FAILED_PRECONDITION);
    } finally {
      keys.close();
    }
    expect((await api.call('keys.rotate', { keyId: old.keyId, emergency: true, graceMs: 5000 })).error?.code).toBe('INVALID_ARGUMENT');
  });

  it('completes a rotation whose new key was never issued (the issuer died between the two appends)', async () => {
    const old = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'crashy', scopes: ['orders:read'] });
    await everywhere(old.key, 'VALID');
    // What a crash after the first append leaves: the old key names a replacement whose stream is empty.
    const replacedBy = newPrefixedId('key');
    const graceEndsAt = new Date(Date.now() + 60_000).toISOString();
    await ctx.store.append(streamIdOf('key', old.keyId), 1, [
      { type: 'KeyRotated', data: { keyId: old.keyId, replacedBy, graceEndsAt }, metadata: testMetadata() },
    ]);
    const rotated = await api.ok<Rotated>('keys.rotate', { keyId: old.keyId, graceMs: 5000 });
    expect(rotated.keyId).toBe(replacedBy);
    expect(rotated.previous.rotation).toEqual({ replacedBy, graceEndsAt, emergency: false });
    expect(rotated.view).toMatchObject({ owner: 'crashy', scopes: ['orders:read'], rotatedFrom: old.keyId, status: 'active' });
    await everywhere(rotated.key, 'VALID');
    expect(await ctx.store.streamVersion(streamIdOf('key', old.keyId))).toBe(2);
    // Completed: now it is an ordinary rotated key.
    expect((await api.call('keys.rotate', { keyId: old.keyId })).error?.code).toBe('INVALID_TRANSITION');

    // Completed as an emergency, the interrupted rotation also revokes the old key at once.
    const urgent = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'crashy', scopes: ['orders:read'] });
    await everywhere(urgent.key, 'VALID');
    const urgentReplacement = newPrefixedId('key');
    await ctx.store.append(streamIdOf('key', urgent.keyId), 1, [
      { type: 'KeyRotated', data: { keyId: urgent.keyId, replacedBy: urgentReplacement, graceEndsAt }, metadata: testMetadata() },
    ]);
    const completed = await api.ok<Rotated>('keys.rotate', { keyId: urgent.keyId, emergency: true });
    expect(completed).toMatchObject({ keyId: urgentReplacement, previous: { status: 'revoked' }, fence: { complete: true } });
    for (const port of ports) expect(await authorize(port, urgent.key)).toMatchObject({ status: 401, code: 'REVOKED' });
  });

  it('lets only admin keys that may write the key’s tenant rotate it', async () => {
    const target = await api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'svc' });
    const readOnly = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'auditor', scopes: ['keyledger:keys:read'] });
    const globexAdmin = await api.ok<{ key: string }>('keys.issue', {
      tenant: 'globex',
      owner: 'ops',
      scopes: ['keyledger:keys:write', 'keyledger:keys:read'],
    });
    await eventually('admin keys usable', () => api.call('keys.list', { tenant: 'globex' }, globexAdmin.key).then((r) => r.ok), Boolean);
    await eventually('read-only key usable', () => api.call('keys.list', { tenant: 'acme' }, readOnly.key).then((r) => r.ok), Boolean);
    expect((await api.call('keys.rotate', { keyId: target.keyId }, null)).error?.code).toBe('UNAUTHENTICATED');
    expect((await api.call('keys.rotate', { keyId: target.keyId }, 'kl_live_garbage')).error?.code).toBe('UNAUTHENTICATED');
    expect((await api.call('keys.rotate', { keyId: target.keyId }, readOnly.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('keys.rotate', { keyId: target.keyId }, globexAdmin.key)).error?.code).toBe('KEY_NOT_FOUND');
    expect((await api.call('keys.rotate', { keyId: target.keyId, graceMs: -1 })).error?.code).toBe('INVALID_ARGUMENT');
    expect(await ctx.store.streamVersion(streamIdOf('key', target.keyId))).toBe(1);
  });
});
