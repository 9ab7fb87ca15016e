import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { SecurityAlert, VerifyResult } from '@keyledger/contracts';
import { MESSAGE_HEADERS, ROOT_TENANT, eventSubject, securityAlertSchema, securityAlertSubject, streamIdOf, verifierAppliedSubject } from '@keyledger/contracts';
import { newEventId, newPrefixedId } from '@keyledger/ids';
import { formatNewKey } from '@keyledger/key-domain';
import type { NatsKeyApi, RunningServices, TestContext } from '@keyledger/testing';
import { createTestContext, eventually, insertEventBySql, natsKeyApi, readStreamMessages, spawnService, startServices } from '@keyledger/testing';

/** `keyledger_events_rejected_total` summed over a service's /metrics, by source. */
async function rejectedTotal(port: number, source: 'bus' | 'store'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('keyledger_events_rejected_total{') && line.includes(`source="${source}"`))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/**
 * The attack of a stranger on an open NATS (no credentials configured, as a developer's may
 * be), against running services: copy a tenant's KeyIssued as a root admin key, revive a
 * revoked key, move an event to a huge position, forge a verifier's announcement, and insert a
 * row by SQL. Nothing may change any answer; every refusal is counted and alerted.
 */
describe('a stranger on an open bus, against running services', () => {
  let ctx: TestContext;
  let services: RunningServices;
  let relay: ChildProcess;
  let api: NatsKeyApi;
  let attacker: NatsConnection;
  let alertSubscription: Subscription;
  const alerts: SecurityAlert[] = [];
  const rootKey = formatNewKey('kl', 'live', (n) => randomBytes(n));

  const verifyOn = (body: unknown): Promise<VerifyResult> => api.verify(body);
  const storedEventIds = async (keyId: string): Promise<string[]> => (await ctx.store.readStream(streamIdOf('key', keyId))).map((event) => event.eventId);
  async function publishedBody(eventId: string): Promise<{ subject: string; data: Uint8Array; json: Record<string, unknown> & { data: Record<string, unknown> } }> {
    const info = await ctx.jsm.streams.info(ctx.topology.eventStream);
    const message = (await readStreamMessages(ctx.js, ctx.topology.eventStream, info.state.messages)).find(
      (candidate) => candidate.headers?.get(MESSAGE_HEADERS.msgId) === eventId,
    );
    if (!message) throw new Error(`event ${eventId} is not on the event stream`);
    return { subject: message.subject, data: message.data, json: message.json() };
  }

  beforeAll(async () => {
    ctx = await createTestContext('forgery_e2e');
    relay = spawnService(ctx, 'relay');
    services = await startServices(ctx, ['issuer', 'verifier', 'verifier'], { KEYLEDGER_BOOTSTRAP_ADMIN_KEY: rootKey, REVOCATION_FENCE_TIMEOUT_MS: '3000' });
    api = natsKeyApi(ctx, rootKey);
    await api.adminKeyAccepted();
    attacker = await connect({ servers: ctx.natsUrl, name: 'stranger' });
    alertSubscription = ctx.nc.subscribe(securityAlertSubject(ctx.topology.subjectPrefix), {
      callback: (_error, message) => void alerts.push(securityAlertSchema.parse(message.json())),
    });
  });

  afterAll(async () => {
    alertSubscription?.unsubscribe();
    await attacker?.close();
    services?.stop();
    relay?.kill('SIGTERM');
    await ctx?.close();
  });

  it('changes no answer with forged, replayed or moved events, and counts and alerts each refusal', async () => {
    const prefix = ctx.topology.subjectPrefix;
    const tenantKey = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'billing', scopes: ['orders:read'] });
    const revokedKey = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'batch', scopes: ['orders:read'] });
    await api.ok('keys.suspend', { keyId: revokedKey.keyId, reason: 'audit' });
    await api.ok('keys.resume', { keyId: revokedKey.keyId });
    await api.ok('keys.revoke', { keyId: revokedKey.keyId, reason: 'retired' });
    expect((await verifyOn({ key: revokedKey.key })).code).toBe('REVOKED');

    const [issuedId] = await storedEventIds(tenantKey.keyId);
    const [, , resumedId, revokedId] = await storedEventIds(revokedKey.keyId);
    const issued = await publishedBody(issuedId!);
    const resumed = await publishedBody(resumedId!);
    const revoked = await publishedBody(revokedId!);
    const rootKeyId = newPrefixedId('key');

    // The tenant's key copied as a root admin key with the same digest, seal kept: the attack that made a root key.
    attacker.publish(
      eventSubject(prefix, 'key', 'KeyIssued'),
      JSON.stringify({
        ...issued.json,
        eventId: newEventId(),
        streamId: streamIdOf('key', rootKeyId),
        data: { ...issued.json.data, keyId: rootKeyId, tenant: ROOT_TENANT, scopes: ['keyledger:*'] },
      }),
    );
    // A KeyResumed for the revoked key, made from its KeyRevoked message.
    attacker.publish(
      eventSubject(prefix, 'key', 'KeyResumed'),
      JSON.stringify({ ...revoked.json, eventId: newEventId(), type: 'KeyResumed', streamVersion: 5, data: { keyId: revokedKey.keyId } }),
    );
    // The genuine KeyResumed of before the revocation, replayed as it was.
    attacker.publish(resumed.subject, resumed.data);
    // A genuine event moved to a huge position, to make every later event look applied.
    attacker.publish(issued.subject, JSON.stringify({ ...issued.json, position: '99999999999999' }));
    // A verifier "announcing" it applied everything, so a revocation's fence would end at once.
    attacker.publish(verifierAppliedSubject(prefix), JSON.stringify({ instance: 'verifier-x', transactionId: '999999999', position: '999999999', at: new Date().toISOString() }));
    await attacker.flush();

    // The plaintext of the tenant key is still only that.
    const asAdmin = await api.call('keys.list', { tenant: ROOT_TENANT }, tenantKey.key);
    expect(asAdmin.ok).toBe(false);
    expect((await verifyOn({ key: tenantKey.key, scopes: ['keyledger:*'] })).code).toBe('INSUFFICIENT_PERMISSIONS');
    expect(await verifyOn({ key: tenantKey.key, scopes: ['orders:read'] })).toMatchObject({ valid: true, tenant: 'acme' });
    expect((await verifyOn({ key: revokedKey.key })).code).toBe('REVOKED');

    // Later genuine events still apply on every verifier: nothing was frozen.
    const later = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'later', scopes: ['orders:read'] });
    await eventually('the later key verifies', () => verifyOn({ key: later.key }), (result) => result.code === 'VALID');
    const revokedLater = await api.ok<{ fence: { complete: boolean; verifiers: { instance: string }[] } }>('keys.revoke', { keyId: later.keyId, reason: 'drill' });
    // The fence waited for both real verifiers, and for no invented one.
    expect(revokedLater.fence.complete).toBe(true);
    expect(revokedLater.fence.verifiers.map((verifier) => verifier.instance)).not.toContain('verifier-x');
    expect(revokedLater.fence.verifiers).toHaveLength(2);
    for (let n = 0; n < 10; n += 1) expect((await verifyOn({ key: later.key })).code).toBe('REVOKED');

    // Each verifier and the issuer refused the three forged messages (the replay is genuine: a no-op).
    for (const service of [...services.of('verifier'), ...services.of('issuer')])
      await eventually(`${service.name} counted the refusals`, () => rejectedTotal(service.httpPort, 'bus'), (count) => count === 3);
    const alerted = await eventually('alerts for every refusal', () => alerts.reduce((sum, alert) => sum + alert.rejected, 0), (sum) => sum >= 9);
    expect(alerted).toBe(9);
    expect(JSON.stringify(alerts)).not.toContain((issued.json.data['digest'] as { digest: string }).digest);
  });

  it('never applies a row inserted into the events table by SQL without the event key', async () => {
    const victim = await api.ok<{ keyId: string; key: string }>('keys.issue', { tenant: 'acme', owner: 'victim', scopes: ['orders:read'] });
    await api.ok('keys.revoke', { keyId: victim.keyId, reason: 'leaked' });
    await eventually('revoked everywhere', () => verifyOn({ key: victim.key }), (result) => result.code === 'REVOKED');
    const before = await rejectedTotal(services.of('verifier')[0]!.httpPort, 'store');

    // Someone with the database's app role resumes the revoked key by hand, its hash chained correctly.
    await insertEventBySql(ctx.appDb, { streamId: streamIdOf('key', victim.keyId), type: 'KeyResumed', data: { keyId: victim.keyId } }, 'garbage');
    // The relay refuses to publish it; a verifier started now refuses it in its catch-up.
    const late = await startServices(ctx, ['verifier'], {});
    try {
      await eventually('the new verifier refused the row', () => rejectedTotal(late.of('verifier')[0]!.httpPort, 'store'), (count) => count > 0);
      const resumedRows = await ctx.ownerDb.query<{ n: number }[]>(`select count(*)::int as n from events where stream_id = $1 and type = 'KeyResumed'`, [
        streamIdOf('key', victim.keyId),
      ]);
      expect(resumedRows[0]!.n).toBe(1);
      for (let n = 0; n < 10; n += 1) expect((await verifyOn({ key: victim.key })).code).toBe('REVOKED');
      // The running verifiers never saw it on the bus.
      expect(await rejectedTotal(services.of('verifier')[0]!.httpPort, 'store')).toBe(before);
      // A command on that key fails rather than acting on a history it cannot trust.
      const get = await api.call('keys.get', { keyId: victim.keyId });
      expect(get.ok ? undefined : get.error).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/integrity/) as unknown });
    } finally {
      late.stop();
    }
  });
});
