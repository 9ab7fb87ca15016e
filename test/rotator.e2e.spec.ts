import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyIssuedData, KeyRotatedData, RotationPolicyView } from '@keyledger/contracts';
import { deliverySubject, streamIdOf } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { formatNewKey } from '@keyledger/key-domain';
import type { CliRun, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, natsKeyApi, openDelivered, runCli, serviceOutput, spawnService, startServices, waitForExit } from '@keyledger/testing';

/** The value of an unlabelled-but-for-`service` series in Prometheus text. */
function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`no ${name} in the metrics`);
  return Number(match[1]);
}

describe('the rotator', () => {
  let ctx: TestContext;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));
  let services: RunningServices;
  let api: NatsKeyApi;

  const cli = (args: string[]): Promise<CliRun> => runCli(ctx, args, { adminKey: rootKey });

  beforeAll(async () => {
    ctx = await createTestContext('rotator');
    // Two rotator replicas that look for due keys every 200 ms.
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'rotator', 'rotator'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      ROTATOR_INTERVAL_MS: '200',
      ROTATOR_JITTER_MS: '500',
    });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await ctx.close();
  });

  it('sets and reads rotation policies per tenant and per owner, for admin keys that may', async () => {
    const set = await cli(['rotation-policy', 'set', '--tenant', 'acme', '--owner', 'steady', '--max-age', '1h', '--json']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({
      tenant: 'acme',
      owner: 'steady',
      policy: { maxAgeMs: 3_600_000, graceMs: null, quietPeriodMs: null },
      effective: { maxAgeMs: 3_600_000, graceMs: null, quietPeriodMs: null },
    });
    const got = await cli(['rotation-policy', 'get', '--tenant', 'acme', '--owner', 'steady', '--json']);
    expect(JSON.parse(got.stdout)).toEqual(JSON.parse(set.stdout));
    expect((await cli(['rotation-policy', 'get', '--tenant', 'acme', '--owner', 'steady'])).stdout).toContain('1h');
    const readOnly = await api.ok<{ key: string }>('keys.issue', { tenant: 'acme', owner: 'auditor', scopes: ['keyledger:keys:read'] });
    await eventually('read-only key usable', () => api.call('keys.list', { tenant: 'acme' }, readOnly.key).then((r) => r.ok), Boolean);
    expect((await api.call('rotation-policy.set', { tenant: 'acme', maxAgeMs: 1000 }, readOnly.key)).error?.code).toBe('PERMISSION_DENIED');
    expect((await api.call('rotation-policy.set', { tenant: 'acme', maxAgeMs: 10 })).error?.code).toBe('INVALID_ARGUMENT');
    expect((await api.call('rotation-policy.get', { tenant: 'acme' }, null)).error?.code).toBe('UNAUTHENTICATED');
    expect(await api.ok<RotationPolicyView>('rotation-policy.get', { tenant: 'acme', owner: 'steady' }, readOnly.key)).toMatchObject({
      effective: { maxAgeMs: 3_600_000, graceMs: null },
    });
  });

  it('rotates each key past its tenant’s maximum age once across two replicas, with the policy’s grace, and leaves the others', async () => {
    const issue = (tenant: string, owner: string) => api.ok<{ keyId: string; key: string }>('keys.issue', { tenant, owner, scopes: ['orders:read'] });
    const due = await Promise.all([issue('acme', 'svc'), issue('acme', 'svc'), issue('acme', 'svc'), issue('acme', 'batch')]);
    const steady = await issue('acme', 'steady');
    const unpoliced = await issue('globex', 'svc');
    const policySetAt = Date.now();
    const set = await cli(['rotation-policy', 'set', '--tenant', 'acme', '--max-age', '3s', '--grace', '1h', '--force']);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('max age 3s, grace 1h');

    await eventually(
      'every due key rotated',
      () => Promise.all(due.map(({ keyId }) => ctx.store.streamVersion(streamIdOf('key', keyId)))),
      (versions) => versions.every((version) => version === 2),
      20_000,
    );
    // Stop further rotations (the new keys would be due 3 s after their issue).
    expect(await cli(['rotation-policy', 'set', '--tenant', 'acme', '--max-age', 'none'])).toMatchObject({ code: 0, stderr: '' });

    const events = await ctx.store.readAll(START_OF_LOG, 100_000, 'key').then((page) => page.events);
    for (const { keyId, key } of due) {
      const rotation = events.find((event) => event.streamId === streamIdOf('key', keyId) && event.type === 'KeyRotated')!;
      const data = rotation.data as KeyRotatedData;
      expect(rotation.metadata.actor).toBe('system:rotator');
      // The policy's grace, from the moment of the rotation (the store stamps the event a moment later).
      const grace = Date.parse(data.graceEndsAt) - Date.parse(rotation.occurredAt);
      expect(grace).toBeGreaterThan(3_600_000 - 1000);
      expect(grace).toBeLessThanOrEqual(3_600_000);
      expect(Date.parse(rotation.occurredAt)).toBeGreaterThanOrEqual(policySetAt);
      // One replacement per rotated key, though two replicas found it due.
      const replacements = events.filter((event) => event.type === 'KeyIssued' && (event.data as KeyIssuedData).rotatedFrom === keyId);
      expect(replacements.map((event) => event.streamId)).toEqual([streamIdOf('key', data.replacedBy)]);
      expect(replacements[0]!.data).toMatchObject({ tenant: 'acme', scopes: ['orders:read'] });
      // The old key works through its grace.
      expect(await api.verify({ key, scopes: ['orders:read'] })).toMatchObject({ valid: true, keyId, expiresAt: data.graceEndsAt });
    }
    for (const { keyId } of [steady, unpoliced]) expect(await ctx.store.streamVersion(streamIdOf('key', keyId))).toBe(1);
    // Both replicas were running and neither failed a rotation: the lost races are silent,
    // and together they report each rotation once.
    const rotators = services.of('rotator');
    expect(rotators).toHaveLength(2);
    let rotatedTotal = 0;
    for (const rotator of rotators) {
      expect(rotator.child.exitCode).toBeNull();
      expect(serviceOutput(rotator.child)).not.toContain('scheduled rotation failed');
      const metrics = await (await fetch(`http://127.0.0.1:${rotator.httpPort}/metrics`)).text();
      expect(metricValue(metrics, 'keyledger_rotator_failures_total')).toBe(0);
      expect(metricValue(metrics, 'keyledger_projection_keys')).toBeGreaterThanOrEqual(6);
      rotatedTotal += metricValue(metrics, 'keyledger_rotator_rotations_total');
    }
    expect(rotatedTotal).toBe(due.length);
  });

  it('delivers a scheduled rotation’s new key sealed to its owner’s public key, once, and the key verifies', async () => {
    const owner = generateKeyPairSync('x25519');
    const publicKey = owner.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await api.ok('owners.register-public-key', { tenant: 'initech', owner: 'sealed-svc', publicKey });
    const { keyId, key } = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'initech', owner: 'sealed-svc', scopes: ['orders:read'] });
    expect(await cli(['rotation-policy', 'set', '--tenant', 'initech', '--max-age', '2s', '--grace', '1h', '--force'])).toMatchObject({ code: 0 });
    const rotated = await eventually(
      'rotated by the rotator',
      () => ctx.store.readStream(streamIdOf('key', keyId)),
      (events) => events.some((event) => event.type === 'KeyRotated'),
      20_000,
    );
    expect(await cli(['rotation-policy', 'set', '--tenant', 'initech', '--max-age', 'none'])).toMatchObject({ code: 0 });
    const replacedBy = (rotated.find((event) => event.type === 'KeyRotated')!.data as KeyRotatedData).replacedBy;
    const [delivered] = await eventually(
      'delivery recorded',
      () => ctx.store.readStream(streamIdOf('delivery', replacedBy)),
      (events) => events.length > 0,
    );
    expect(delivered).toMatchObject({ type: 'KeyDelivered', data: { keyId: replacedBy, owner: 'sealed-svc' } });
    expect(delivered!.metadata.actor).toBe('system:rotator');

    const consumer = await ctx.js.consumers.get(ctx.topology.deliveryStream, {
      filter_subjects: deliverySubject(ctx.topology.subjectPrefix, 'initech', 'sealed-svc'),
    });
    const envelopes: Uint8Array[] = [];
    for (let message = await consumer.next({ expires: 1000 }); message; message = await consumer.next({ expires: 1000 })) envelopes.push(message.data);
    const receiver = { tenant: 'initech', owner: 'sealed-svc', privateKey: owner.privateKey };
    // Sent again until acknowledged (nobody acknowledges here): every copy is the one new key.
    // On a slow machine the new key may reach the 2 s age before the policy change is seen and be
    // rotated in turn: that rotation's delivery replaces another key and is not a copy of this one.
    const copies = envelopes.map((envelope) => openDelivered(ctx, envelope, receiver)).filter((copy) => copy.replaces === keyId);
    expect(copies.length).toBeGreaterThanOrEqual(1);
    const opened = copies[0]!;
    expect(opened.keyId).toBe(replacedBy);
    for (const copy of copies) expect(copy).toEqual(opened);
    const verified = await eventually(
      'delivered key accepted',
      () => api.verify({ key: opened.key, scopes: ['orders:read'] }),
      (result) => result.valid,
    );
    expect(verified).toMatchObject({ valid: true, keyId: replacedBy });
    expect(await api.verify({ key, scopes: ['orders:read'] })).toMatchObject({ valid: true, keyId });
    for (const rotator of services.of('rotator')) expect(serviceOutput(rotator.child)).not.toContain(opened.key);
  });

  it('refuses to start, naming the variable, when its webhook CA file cannot be read', async () => {
    const refused = spawnService(ctx, 'rotator', { KEYLEDGER_WEBHOOK_CA_FILE: '/nonexistent/keyledger-ca.pem' });
    expect(await waitForExit(refused)).toBe(78);
    expect(serviceOutput(refused)).toContain('KEYLEDGER_WEBHOOK_CA_FILE: cannot be read (ENOENT): /nonexistent/keyledger-ca.pem');
  });

  it('stops cleanly on SIGTERM, in the middle of its passes', async () => {
    const [rotator] = services.of('rotator');
    rotator!.child.kill('SIGTERM');
    expect(await waitForExit(rotator!.child)).toBe(0);
  });
});
