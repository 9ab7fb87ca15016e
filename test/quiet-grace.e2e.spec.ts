import { Metadata } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { KeyGraceEndedData, KeyRotatedData, KeyView, RotationPolicyView, RotationUsage } from '@keyledger/contracts';
import { apiSubject, streamIdOf } from '@keyledger/contracts';
import { formatNewKey } from '@keyledger/key-domain';
import type { CliRun, NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, grpcClient, natsKeyApi, runCli, startServices } from '@keyledger/testing';

const QUIET_MS = 3000;
const CALLER_IP = '203.0.113.9';

/** A counter's value in a service's /metrics. */
async function metricValue(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`no ${name} in the metrics`);
  return Number(match[1]);
}

/**
 * Usage-aware grace on the built services: with a quiet period in the tenant's rotation policy,
 * an old key that keeps being used stays valid through its grace, and one that stops being used
 * is refused EXPIRED a quiet period later, long before its grace end; `keyledger keys rotation`
 * names the address that used it and when.
 */
describe('quiet grace', () => {
  let ctx: TestContext;
  let services: RunningServices;
  let api: NatsKeyApi;
  let verifierPort: number;
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  const cli = (args: string[]): Promise<CliRun> => runCli(ctx, args, { adminKey: rootKey });
  const rotationOf = async (keyId: string): Promise<RotationUsage> => {
    const run = await cli(['keys', 'rotation', keyId, '--json']);
    if (run.code !== 0) throw new Error(`keyledger keys rotation failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as RotationUsage;
  };
  /** One call through the gateway endpoint, from CALLER_IP: the verify code. */
  const call = async (key: string): Promise<string | null> => {
    const response = await fetch(`http://127.0.0.1:${verifierPort}/v1/authorize`, {
      headers: { Authorization: `Bearer ${key}`, 'X-Required-Scope': 'orders:read', 'X-Real-IP': CALLER_IP },
    });
    return response.headers.get('x-keyledger-code');
  };
  const graceEnds = async (keyId: string) => (await ctx.store.readStream(streamIdOf('key', keyId))).filter((event) => event.type === 'KeyGraceEnded');

  beforeAll(async () => {
    ctx = await createTestContext('quietgrace');
    services = await startServices(ctx, ['relay', 'issuer', 'verifier', 'auditor', 'rotator'], {
      KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey,
      USAGE_FLUSH_INTERVAL_MS: '100',
      ROTATOR_INTERVAL_MS: '250',
      ROTATOR_USAGE_LAG_MS: '1000',
    });
    verifierPort = services.of('verifier')[0]!.httpPort;
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
  });

  afterAll(async () => {
    services?.stop();
    await ctx.close();
  });

  it('keeps an old key valid while it is used, and ends its grace a quiet period after its last use; keys rotation shows who used it', async () => {
    const set = await cli(['rotation-policy', 'set', '--tenant', 'acme', '--quiet-period', '3s', '--json']);
    expect(set.code).toBe(0);
    expect((JSON.parse(set.stdout) as RotationPolicyView).effective).toEqual({ maxAgeMs: null, graceMs: null, quietPeriodMs: QUIET_MS });

    const old = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'shop', scopes: ['orders:read'] });
    await eventually(
      'the key verifies',
      () => call(old.key),
      (code) => code === 'VALID',
    );
    const rotated = await api.ok<{ keyId: string; key: string; previous: KeyView }>('keys.rotate', { keyId: old.keyId, graceMs: 3_600_000 });
    const graceEndsAt = Date.parse(rotated.previous.rotation!.graceEndsAt);

    // Used every 300 ms for three quiet periods: it stays valid, and its grace is not ended.
    const usingUntil = Date.now() + 3 * QUIET_MS;
    while (Date.now() < usingUntil) {
      expect(await call(old.key)).toBe('VALID');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const lastCall = Date.now();
    expect(await call(old.key)).toBe('VALID');
    expect(await graceEnds(old.keyId)).toEqual([]);

    // The auditor names the caller, with the time of its last call.
    const inUse = await eventually(
      'the last calls stored',
      () => rotationOf(old.keyId),
      (usage) => usage.lastUsedAt !== null && Date.parse(usage.lastUsedAt) >= lastCall,
    );
    expect(inUse).toMatchObject({ keyId: old.keyId, replacedBy: rotated.keyId, owner: 'shop', quietPeriodMs: QUIET_MS, graceEnded: null, status: 'active' });
    expect(inUse.sinceRotation.sources).toEqual([expect.objectContaining({ ip: CALLER_IP, invalid: 0, lastSeenAt: inUse.lastUsedAt })]);
    expect(inUse.sinceRotation.calls).toBeGreaterThanOrEqual(10);

    // Nobody uses it any more (the test only watches the store): a quiet period later its grace
    // ends, long before the recorded end, and the verifier refuses it.
    const [ended] = await eventually(
      'the grace ended',
      () => graceEnds(old.keyId),
      (events) => events.length > 0,
      30_000,
    );
    const data = ended!.data as KeyGraceEndedData;
    expect(data).toMatchObject({ keyId: old.keyId, reason: 'quiet', quietPeriodMs: QUIET_MS });
    expect(Date.parse(data.lastUsedAt!)).toBeGreaterThanOrEqual(lastCall - 1000);
    expect(Date.parse(data.endedAt)).toBeGreaterThanOrEqual(Date.parse(data.lastUsedAt!) + QUIET_MS);
    expect(Date.parse(data.endedAt)).toBeLessThan(graceEndsAt);
    await eventually(
      'the old key refused',
      () => call(old.key),
      (code) => code === 'EXPIRED',
    );
    expect(await call(rotated.key)).toBe('VALID');
    expect(ended!.metadata.actor).toBe('system:rotator');

    // By the new key's id too; the table names the caller.
    const after = await rotationOf(rotated.keyId);
    expect(after).toMatchObject({ keyId: old.keyId, status: 'expired', graceEnded: { at: data.endedAt, reason: 'quiet' }, expiresAt: data.endedAt });
    expect(after.sinceRotation.sources.map((source) => source.ip)).toEqual([CALLER_IP]);
    const table = await cli(['keys', 'rotation', old.keyId]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(CALLER_IP);
    expect(table.stdout).toContain('ended early');
  });

  it('takes a quiet period (or none) on a gRPC rotation and answers GetRotationUsage', async () => {
    const address = (service: string) => `127.0.0.1:${services.of(service)[0]!.grpcPort}`;
    const keys = grpcClient(address('issuer'), 'KeyService');
    const usage = grpcClient(address('auditor'), 'UsageService');
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${rootKey}`);
    try {
      const issue = () => api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'grpc' });
      const [quiet, none] = [await issue(), await issue()];
      const a = await keys.call('RotateKey', { keyId: quiet.keyId, graceMs: '3600000', quietPeriodMs: '60000' }, metadata);
      await keys.call('RotateKey', { keyId: none.keyId, graceMs: '3600000', noQuietPeriod: true }, metadata);
      const recorded = async (keyId: string) =>
        (await ctx.store.readStream(streamIdOf('key', keyId))).find((event) => event.type === 'KeyRotated')!.data as KeyRotatedData;
      expect((await recorded(quiet.keyId)).quietPeriodMs).toBe(60_000);
      // The tenant's policy has a quiet period; the call said none.
      expect((await recorded(none.keyId)).quietPeriodMs).toBeUndefined();
      const answer = await eventually(
        'the auditor knows the rotation',
        () => usage.call('GetRotationUsage', { keyId: a.keyId }, metadata).catch(() => undefined),
        (value) => value !== undefined,
      );
      expect(answer).toMatchObject({ keyId: quiet.keyId, replacedBy: a.keyId, quietPeriodMs: '60000', status: 'active', callsSinceRotation: '0', sources: [] });
    } finally {
      keys.close();
      usage.close();
    }
  });

  it('refuses keys rotation for a key never rotated, and without an admin key', async () => {
    const plain = await api.ok<{ keyId: string }>('keys.issue', { tenant: 'acme', owner: 'plain' });
    const refused = await eventually(
      'the auditor knows the key',
      () => cli(['keys', 'rotation', plain.keyId]),
      (run) => !run.stderr.includes('KEY_NOT_FOUND'),
    );
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('INVALID_ARGUMENT');
    expect((await api.call('usage.rotation', { keyId: plain.keyId }, null)).error?.code).toBe('UNAUTHENTICATED');
  });

  it('ends no grace on a stranger’s “never used” answered on an open NATS while the old key is in use, and ends it once the key is quiet', async () => {
    // Anyone who reaches the NATS answers every usage.last-used at once: never used, all stored.
    const stranger = await connect({ servers: ctx.natsUrl, name: 'stranger' });
    let forged = 0;
    stranger.subscribe(apiSubject(ctx.topology.subjectPrefix, 'usage.last-used'), {
      callback: (_error, message) => {
        const request = message.json<{ keyIds: string[] }>();
        forged += 1;
        const result = {
          ingestedUntil: new Date().toISOString(),
          keys: request.keyIds.map((keyId) => ({ keyId, lastUsedAt: null })),
          auth: { v: 1, mac: randomBytes(32).toString('base64') },
        };
        message.respond(JSON.stringify({ ok: true, result }));
      },
    });
    await stranger.flush();
    const old = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'stranger-target', scopes: ['orders:read'] });
    let lastCall = 0;
    try {
      await eventually(
        'the key verifies',
        () => call(old.key),
        (code) => code === 'VALID',
      );
      await api.ok('keys.rotate', { keyId: old.keyId, graceMs: 3_600_000, quietPeriodMs: QUIET_MS });
      // Believed, the forgeries would end the grace a quiet period after the rotation; the key is used throughout.
      const usingUntil = Date.now() + 3 * QUIET_MS;
      while (Date.now() < usingUntil) {
        expect(await call(old.key)).toBe('VALID');
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      lastCall = Date.now();
      expect(await call(old.key)).toBe('VALID');
      expect(await graceEnds(old.keyId)).toEqual([]);
      expect(forged).toBeGreaterThan(0);
      expect(await metricValue(services.of('rotator')[0]!.httpPort, 'keyledger_rotator_usage_answers_refused_total')).toBeGreaterThan(0);
    } finally {
      await stranger.close();
    }

    // The stranger gone, the auditor's sealed answers end the grace a quiet period after the last use.
    const [ended] = await eventually(
      'the grace ended',
      () => graceEnds(old.keyId),
      (events) => events.length > 0,
      30_000,
    );
    const data = ended!.data as KeyGraceEndedData;
    expect(data).toMatchObject({ keyId: old.keyId, reason: 'quiet', quietPeriodMs: QUIET_MS });
    expect(Date.parse(data.lastUsedAt!)).toBeGreaterThanOrEqual(lastCall - 1000);
  });
});
