import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { streamIdOf } from '@keyledger/contracts';
import type { KeyledgerV1 } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import { formatNewKey } from '@keyledger/key-domain';
import type { GrpcApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, grpcFailure as failure, reflect, reflectedServices, startServices } from '@keyledger/testing';

describe('the gRPC API', () => {
  let ctx: TestContext;
  let keys: GrpcApi<KeyledgerV1.KeyServiceDefinition>;
  let verifier: GrpcApi<KeyledgerV1.VerifierServiceDefinition>;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  const issuedKeys: string[] = [rootKey];
  let services: RunningServices;
  const address = (name: string): string => `127.0.0.1:${services.of(name)[0]!.grpcPort}`;

  function admin(key: string | null = rootKey, extra: Record<string, string> = {}): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (key) metadata.set('authorization', `Bearer ${key}`);
    for (const [name, value] of Object.entries(extra)) metadata.set(name, value);
    return metadata;
  }

  async function issue(request: KeyledgerV1.IssueKeyRequest, metadata = admin()): Promise<KeyledgerV1.IssueKeyResponse__Output> {
    const issued = await keys.call('IssueKey', request, metadata);
    issuedKeys.push(issued.key);
    return issued;
  }

  const verify = (request: KeyledgerV1.VerifyRequest): Promise<KeyledgerV1.VerifyResponse__Output> => verifier.call('Verify', request);

  beforeAll(async () => {
    ctx = await createTestContext('grpc');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, LOG_LEVEL: 'trace' });
    keys = grpcClient(address('issuer'), 'KeyService');
    verifier = grpcClient(address('verifier'), 'VerifierService');
    // The root key is usable once the issuer's own projection has seen it.
    await eventually('root key accepted', () => keys.call('ListKeys', { tenant: 'acme' }, admin()).then(Boolean, () => false), Boolean);
  });

  afterAll(async () => {
    keys?.close();
    verifier?.close();
    services?.stop();
    await ctx.close();
  });

  it('issues a key that the verifier then verifies, with the same fields as the JSON API', async () => {
    const { keyId, key, view } = await issue(
      {
        tenant: 'acme',
        owner: 'billing',
        name: 'billing key',
        scopes: ['orders:*'],
        ipAllowlist: ['10.0.0.0/8'],
        expiresAt: '2099-01-01T00:00:00Z',
        metadata: { team: 'payments' },
        rateLimits: [{ limit: 1000, windowMs: 86_400_000 }],
      },
      admin(rootKey, { 'keyledger-correlation-id': 'grpc-e2e-issue' }),
    );
    expect(key).toMatch(/^kl_live_[0-9A-Za-z]{38}$/);
    expect(keyId).toMatch(/^key_/);
    expect(view).toEqual({
      keyId,
      tenant: 'acme',
      owner: 'billing',
      name: 'billing key',
      environment: 'live',
      hint: expect.any(String),
      status: 'active',
      scopes: ['orders:*'],
      ipAllowlist: ['10.0.0.0/8'],
      expiresAt: '2099-01-01T00:00:00.000Z',
      metadata: { team: 'payments' },
      rateLimits: [{ limit: 1000, windowMs: 86_400_000 }],
      credits: null,
      // Set once the key is rotated (test/rotation.e2e.spec.ts).
      rotation: null,
      honeytoken: false,
      version: 1,
    });
    expect(JSON.stringify(view)).not.toContain(key);
    const [issuedEvent] = await ctx.store.readStream(streamIdOf('key', keyId));
    expect(issuedEvent?.metadata.correlationId).toBe('grpc-e2e-issue');

    await eventually(
      'the verifier knows the key',
      () => verify({ key, scopes: ['orders:read'], ip: '10.1.2.3' }),
      (r) => r.code === 'VALID',
    );
    expect(await verify({ key, scopes: ['orders:read'], ip: '10.1.2.3', tenant: 'acme', env: 'live' })).toEqual({
      valid: true,
      code: 'VALID',
      keyId,
      tenant: 'acme',
      owner: 'billing',
      scopes: ['orders:*'],
      env: 'live',
      expiresAt: '2099-01-01T00:00:00.000Z',
      meta: { team: 'payments' },
    });
    expect((await verify({ key, scopes: ['users:read'], ip: '10.1.2.3' })).code).toBe('INSUFFICIENT_PERMISSIONS');
    expect(await verify({ key, ip: '192.168.1.1' })).toMatchObject({ code: 'FORBIDDEN', reason: 'ip' });
    expect(await verify({ key, ip: '10.1.2.3', env: 'test' })).toMatchObject({ code: 'FORBIDDEN', reason: 'environment' });
    expect(await verify({ key, ip: '10.1.2.3', tenant: 'other' })).toMatchObject({ valid: false, code: 'NOT_FOUND' });

    expect(await keys.call('GetKey', { keyId }, admin())).toEqual(view);
    await eventually(
      'the key listed',
      () => keys.call('ListKeys', { tenant: 'acme' }, admin()),
      (r) => r.keys.some((k) => k.keyId === keyId),
    );
  });

  it('updates, suspends, resumes and revokes a key; the verifier follows and the revocation waits for it', async () => {
    const { keyId, key } = await issue({ tenant: 'acme', owner: 'reports', scopes: ['reports:read'], expiresAt: '2099-01-01T00:00:00Z' });
    await eventually(
      'key known',
      () => verify({ key }),
      (r) => r.code === 'VALID',
    );

    const updated = await keys.call('UpdateKey', { keyId, scopes: { values: ['reports:*'] }, removeExpiry: true }, admin());
    expect(updated).toMatchObject({ keyId, scopes: ['reports:*'], version: 2 });
    expect(updated.expiresAt).toBeUndefined();
    // Unset fields change nothing: this update records no event.
    expect((await keys.call('UpdateKey', { keyId }, admin())).version).toBe(2);
    await eventually(
      'update applied',
      () => verify({ key, scopes: ['reports:export'] }),
      (r) => r.code === 'VALID' && r.expiresAt === undefined,
    );

    expect((await keys.call('SuspendKey', { keyId, reason: 'investigating' }, admin())).status).toBe('suspended');
    await eventually(
      'suspension applied',
      () => verify({ key }),
      (r) => r.code === 'DISABLED',
    );
    expect((await keys.call('ResumeKey', { keyId }, admin())).status).toBe('active');
    await eventually(
      'resumption applied',
      () => verify({ key }),
      (r) => r.code === 'VALID',
    );

    const revoked = await keys.call('RevokeKey', { keyId, reason: 'rotated out' }, admin());
    expect(revoked.view).toMatchObject({ keyId, status: 'revoked', version: 5 });
    expect(revoked.fence).toMatchObject({ complete: true, verifiers: [{ instance: expect.stringMatching(/^verifier-/), applied: true }] });
    // No waiting here: the fence already guaranteed it.
    expect(await verify({ key })).toMatchObject({ valid: false, code: 'REVOKED', keyId });

    const error = await failure(keys.call('ResumeKey', { keyId }, admin()));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.metadata.get('keyledger-error-code')).toEqual(['INVALID_TRANSITION']);
  });

  it('issues a honeytoken, shown as one to admins, which the verifier answers as an unknown key', async () => {
    const { keyId, key, view } = await issue({ tenant: 'acme', owner: 'bait', scopes: ['orders:*'], honeytoken: true });
    expect(view).toMatchObject({ keyId, honeytoken: true });
    expect(await keys.call('GetKey', { keyId }, admin())).toMatchObject({ keyId, honeytoken: true });
    // The verifier follows the store in order: once it knows a key issued after the honeytoken, it holds the honeytoken too.
    const later = await issue({ tenant: 'acme', owner: 'bait', scopes: ['orders:*'] });
    await eventually(
      'the verifier knows the later key',
      () => verify({ key: later.key }),
      (r) => r.code === 'VALID',
    );
    const unknown = await verify({ key: formatNewKey('kl', 'live', (n) => randomBytes(n)), scopes: ['orders:read'] });
    expect(unknown).toMatchObject({ valid: false, code: 'NOT_FOUND' });
    expect(await verify({ key, scopes: ['orders:read'] })).toEqual(unknown);
  });

  it('sets a quota, charges verifications their cost, tops it up and removes it', async () => {
    const refill = { amount: 500, interval: 'monthly', dayOfMonth: 15 };
    const { keyId, key, view } = await issue({ tenant: 'acme', owner: 'metered', credits: { remaining: 10, refill } });
    expect(view?.credits).toEqual({ remaining: 10, refill });
    await eventually(
      'the verifier knows the key',
      () => verify({ key, cost: 0 }),
      (r) => r.code === 'VALID',
    );
    expect(await verify({ key, cost: 4 })).toMatchObject({ valid: true, code: 'VALID', remaining: 6 });
    expect(await verify({ key, cost: 7 })).toMatchObject({ valid: false, code: 'USAGE_EXCEEDED', remaining: 6 });
    expect(await verify({ key, cost: 1001 })).toMatchObject({ valid: false, code: 'MALFORMED' });
    const toppedUp = await keys.call('TopUpCredits', { keyId, amount: 5 }, admin());
    expect(toppedUp.credits?.refill).toEqual(refill);
    await eventually(
      'the top-up applied',
      () => verify({ key, cost: 7 }),
      (r) => r.code === 'VALID',
    );
    expect((await failure(keys.call('TopUpCredits', { keyId, amount: 0 }, admin()))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await keys.call('UpdateKey', { keyId, removeCredits: true }, admin())).credits).toBeNull();
    expect((await keys.call('UpdateKey', { keyId, credits: { remaining: 3 } }, admin())).credits).toEqual({ remaining: 3, refill: null });
  });

  it('refuses calls without a valid admin key (UNAUTHENTICATED) or beyond its scopes (PERMISSION_DENIED)', async () => {
    const missing = await failure(keys.call('ListKeys', { tenant: 'acme' }, admin(null)));
    expect([missing.code, missing.details]).toEqual([grpc.status.UNAUTHENTICATED, 'an admin key is required (Authorization: Bearer <key>)']);
    expect(missing.metadata.get('keyledger-error-code')).toEqual(['UNAUTHENTICATED']);
    expect((await failure(keys.call('ListKeys', { tenant: 'acme' }, admin('kl_live_garbage')))).code).toBe(grpc.status.UNAUTHENTICATED);
    const basic = new grpc.Metadata();
    basic.set('authorization', `Basic ${rootKey}`);
    expect((await failure(keys.call('IssueKey', { tenant: 'acme', owner: 'x' }, basic))).code).toBe(grpc.status.UNAUTHENTICATED);

    const readOnly = await issue({ tenant: 'acme', owner: 'auditor', scopes: ['keyledger:keys:read'] });
    await eventually('read-only admin usable', () => keys.call('ListKeys', { tenant: 'acme' }, admin(readOnly.key)).then(Boolean, () => false), Boolean);
    const denied = await failure(keys.call('IssueKey', { tenant: 'acme', owner: 'x' }, admin(readOnly.key)));
    expect([denied.code, denied.details]).toEqual([grpc.status.PERMISSION_DENIED, 'the admin key lacks the scope keyledger:keys:write']);
    expect((await failure(keys.call('ListKeys', { tenant: 'globex' }, admin(readOnly.key)))).code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('rejects invalid arguments with INVALID_ARGUMENT naming the field, and records nothing', async () => {
    // Verifiers flush what earlier tests' keys consumed on streams of their own, whenever it comes.
    const recorded = async () => (await ctx.store.readAll(START_OF_LOG, 100_000).then((page) => page.events)).filter((event) => event.type !== 'CreditsConsumed').length;
    const before = await recorded();
    const bad: Parameters<typeof keys.call>[] = [
      ['IssueKey', { tenant: 'ACME!', owner: 'x' }],
      ['IssueKey', { tenant: 'acme' }],
      ['IssueKey', { tenant: 'acme', owner: 'x', environment: 'prod' }],
      ['IssueKey', { tenant: 'acme', owner: 'x', scopes: ['Not A Scope'] }],
      ['IssueKey', { tenant: 'acme', owner: 'x', ipAllowlist: ['10.0.0.0/99'] }],
      ['IssueKey', { tenant: 'acme', owner: 'x', expiresAt: '2001-01-01T00:00:00Z' }],
      ['IssueKey', { tenant: 'acme', owner: 'x', expiresAt: 'tomorrow' }],
      ['UpdateKey', { keyId: 'key_nope' }],
      ['SuspendKey', { keyId: '' }],
      ['RevokeKey', { keyId: newPrefixedId('key') }],
      ['ListKeys', {}],
    ];
    for (const [method, request] of bad) {
      const error = await failure(keys.call(method, request, admin()));
      expect([method, error.code]).toEqual([method, grpc.status.INVALID_ARGUMENT]);
      expect(error.metadata.get('keyledger-error-code')).toEqual(['INVALID_ARGUMENT']);
    }
    expect((await failure(keys.call('IssueKey', { tenant: 'ACME!', owner: 'x' }, admin()))).details).toMatch(/^invalid request: tenant: /);
    const unknown = await failure(keys.call('GetKey', { keyId: newPrefixedId('key') }, admin()));
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
    expect(await recorded()).toBe(before);
  });

  it('answers MALFORMED, never an error, to bad keys and bad verify requests', async () => {
    const tampered = rootKey.slice(0, -1) + (rootKey.endsWith('a') ? 'b' : 'a');
    for (const key of ['', 'kl_live_nope', 'x'.repeat(100_000), '\u0000\uffff', tampered]) {
      expect(await verify({ key })).toEqual({ valid: false, code: 'MALFORMED', scopes: [], meta: {} });
    }
    expect((await verify({})).code).toBe('MALFORMED');
    expect((await verify({ key: rootKey, env: 'prod' })).code).toBe('MALFORMED');
    expect((await verify({ key: rootKey, tenant: 'ACME!' })).code).toBe('MALFORMED');
    expect((await verify({ key: rootKey, scopes: Array.from({ length: 101 }, () => 'a:b') })).code).toBe('MALFORMED');
    expect((await verify({ key: rootKey })).code).toBe('VALID');
  });

  it('serves reflection listing the services and describing them, in both reflection versions', async () => {
    for (const version of ['v1', 'v1alpha'] as const) {
      const listed = (name: string): Promise<string[]> => reflectedServices(address(name), version);
      const [issuerServices, verifierServices] = [await listed('issuer'), await listed('verifier')];
      expect(issuerServices).toContain('keyledger.v1.KeyService');
      expect(verifierServices).toContain('keyledger.v1.VerifierService');
      expect(new Set([...issuerServices, ...verifierServices])).toEqual(new Set(['keyledger.v1.KeyService', 'keyledger.v1.VerifierService']));

      const [described] = await reflect(address('issuer'), version, { fileContainingSymbol: 'keyledger.v1.KeyService' });
      const descriptors = described?.fileDescriptorResponse?.fileDescriptorProto ?? [];
      expect(descriptors.length).toBeGreaterThan(0);
      expect(Buffer.concat(descriptors).toString('latin1')).toContain('RevokeKey');
    }
  });

  it('keeps every plaintext key out of the logs', () => {
    const logs = services.logs();
    expect(logs).toContain('[redacted]'); // the verifier logged verify requests, with the key redacted
    for (const key of issuedKeys) expect(logs).not.toContain(key.slice(8, 40));
  });
});
