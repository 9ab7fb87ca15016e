import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import type { CommandContext } from '@keyledger/admin-auth';
import type { SecurityAlert } from '@keyledger/contracts';
import { MESSAGE_HEADERS, ROOT_TENANT, eventSubject, securityAlertSchema, securityAlertSubject, streamIdOf } from '@keyledger/contracts';
import type { EventAuthentication } from '@keyledger/event-auth';
import { EventRejections } from '@keyledger/event-bus';
import { EventIntegrityError, PostgresEventStore, verifyEventChains } from '@keyledger/event-store';
import { newEventId, newPrefixedId } from '@keyledger/ids';
import { KeyIndex, KeyVerifier, LiveKeyProjection } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { Registry } from '@keyledger/observability';
import { createMetricsRegistry } from '@keyledger/observability';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, insertEventBySql, readStreamMessages } from '@keyledger/testing';
import type { IssuedKey } from './key-commands.js';
import { KeyCommands } from './key-commands.js';

const SETTINGS = { maxBusSilenceMs: 30_000, failClosed: true, heartbeatMs: 60_000, catchUpBatchSize: 100, announce: false };

/** A verifier's key projection with its own refusal reporting (counter, log, alerts), as a service wires it. */
async function startVerifier(ctx: TestContext, name: string, limits = { maxAlerts: 2, intervalMs: 2000 }) {
  const registry = createMetricsRegistry('test');
  const rejections = new EventRejections({ nc: ctx.nc, subjectPrefix: ctx.topology.subjectPrefix, logger: ctx.logger, registry, service: name, authenticator: ctx.auth.authenticator }, limits);
  const auth: EventAuthentication = { authenticator: ctx.auth.authenticator, rejections };
  const index = new KeyIndex();
  // Its store reads and its bus reader report to the same place, as a service's infrastructure wires them.
  const store = new PostgresEventStore(ctx.appDb, auth);
  const projection = new LiveKeyProjection({ ...ctx, store, auth, index }, { instanceId: name, ...SETTINGS });
  await projection.start();
  return { registry, rejections, index, projection };
}

/** The value of `keyledger_events_rejected_total` for one reason and source (0 when never counted). */
async function rejectedCount(registry: Registry, reason: string, source: 'bus' | 'store'): Promise<number> {
  const metric = await registry.getSingleMetric('keyledger_events_rejected_total')?.get();
  return metric?.values.find((value) => value.labels['reason'] === reason && value.labels['source'] === source)?.value ?? 0;
}

/** The sealed message the relay published for an event, as anyone subscribed to the stream can copy it. */
async function publishedMessage(ctx: TestContext, eventId: string): Promise<JsMsg> {
  const info = await ctx.jsm.streams.info(ctx.topology.eventStream);
  const messages = await readStreamMessages(ctx.js, ctx.topology.eventStream, info.state.messages);
  const message = messages.find((candidate) => candidate.headers?.get(MESSAGE_HEADERS.msgId) === eventId);
  if (!message) throw new Error(`event ${eventId} is not in the event stream`);
  return message;
}

describe('forged and replayed events (real NATS and Postgres)', () => {
  let ctx: TestContext;
  let relay: OutboxRelay;
  let keys: KeyCommands;
  let attacker: NatsConnection;
  let alertSubscription: Subscription;
  const alerts: SecurityAlert[] = [];
  const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const issue = (owner: string) => keys.issue({ tenant: 'acme', owner, environment: 'live', scopes: ['orders:read'], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
  let verifier: Awaited<ReturnType<typeof startVerifier>>;
  let answers: KeyVerifier;
  /** A tenant's key whose KeyIssued is copied, and a key suspended, resumed and then revoked. */
  let tenantKey: IssuedKey;
  let revokedKey: IssuedKey;
  const eventIdsOf = async (keyId: string): Promise<string[]> => (await ctx.store.readStream(streamIdOf('key', keyId))).map((event) => event.eventId);

  beforeAll(async () => {
    ctx = await createTestContext('forgery');
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { batchSize: 100, pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
    keys = new KeyCommands({ store: ctx.store, hasher, index: new KeyIndex() });
    attacker = await connect({ servers: ctx.natsUrl, name: 'attacker' });
    alertSubscription = ctx.nc.subscribe(securityAlertSubject(ctx.topology.subjectPrefix), {
      callback: (_error, message) => {
        alerts.push(securityAlertSchema.parse(message.json()));
      },
    });
    verifier = await startVerifier(ctx, 'verifier-a');
    answers = new KeyVerifier(verifier.index, hasher, { projection: verifier.projection });
    tenantKey = await issue('billing');
    revokedKey = await issue('batch');
    await keys.suspend({ keyId: revokedKey.keyId, reason: 'audit' }, admin);
    await keys.resume(revokedKey.keyId, admin);
    await keys.revoke({ keyId: revokedKey.keyId, reason: 'retired', waitForVerifiers: false }, admin);
    await eventually('the verifier holds both keys, one revoked', () => answers.verify(revokedKey.key, {}, Date.now()).code, (code) => code === 'REVOKED');
  });

  afterAll(async () => {
    alertSubscription.unsubscribe();
    await verifier.projection.stop();
    verifier.rejections.close();
    await relay.stop();
    await attacker.close();
    await ctx.close();
  });

  it('applies no forged, replayed or moved event from the bus, counts and alerts each, and goes on applying genuine ones', async () => {
    const [issuedId] = await eventIdsOf(tenantKey.keyId);
    const [, , resumedId, revokedId] = await eventIdsOf(revokedKey.keyId);
    const issued = (await publishedMessage(ctx, issuedId!)).json<Record<string, unknown> & { data: Record<string, unknown> }>();
    const resumed = await publishedMessage(ctx, resumedId!);
    const revoked = await publishedMessage(ctx, revokedId!);
    const prefix = ctx.topology.subjectPrefix;
    const rootKeyId = newPrefixedId('key');

    // 1. The tenant's KeyIssued copied as a root admin key with the same digest, its seal kept.
    const asRoot: Record<string, unknown> = {
      ...issued,
      eventId: newEventId(),
      streamId: streamIdOf('key', rootKeyId),
      position: '9000000000',
      data: { ...issued.data, keyId: rootKeyId, tenant: ROOT_TENANT, scopes: ['keyledger:*'] },
    };
    attacker.publish(eventSubject(prefix, 'key', 'KeyIssued'), JSON.stringify(asRoot));
    // 2. The same without any seal.
    const { auth: _seal, ...unsealed } = asRoot;
    attacker.publish(eventSubject(prefix, 'key', 'KeyIssued'), JSON.stringify({ ...unsealed, eventId: newEventId() }));
    // 3. A KeyResumed for the revoked key, made from its KeyRevoked message (seal copied).
    const forgedResume = { ...revoked.json<Record<string, unknown>>(), eventId: newEventId(), type: 'KeyResumed', streamVersion: 5, data: { keyId: revokedKey.keyId } };
    attacker.publish(eventSubject(prefix, 'key', 'KeyResumed'), JSON.stringify(forgedResume));
    // 4. The genuine, sealed KeyResumed of before the revocation, replayed as it was.
    attacker.publish(resumed.subject, resumed.data);
    // 5. A genuine event moved to a huge position, which would make every later event look applied.
    attacker.publish(eventSubject(prefix, 'key', 'KeyIssued'), JSON.stringify({ ...issued, position: '99999999999999' }));
    // 6. A genuine KeyRevoked sent on the KeyResumed subject.
    attacker.publish(eventSubject(prefix, 'key', 'KeyResumed'), revoked.data);
    await attacker.flush();

    // Genuine events keep applying after all of that.
    const later = await issue('later');
    await eventually('the later key applied', () => verifier.index.get(later.keyId), Boolean);
    expect(answers.verify(later.key, { scopes: ['orders:read'] }, Date.now())).toMatchObject({ valid: true, code: 'VALID' });

    // Nothing forged, replayed or moved changed an answer.
    expect(verifier.index.get(rootKeyId)).toBeUndefined();
    expect(answers.verify(tenantKey.key, { scopes: ['orders:read'] }, Date.now())).toMatchObject({ valid: true, tenant: 'acme', scopes: ['orders:read'] });
    expect(answers.verify(tenantKey.key, { scopes: ['keyledger:*'] }, Date.now())).toMatchObject({ valid: false, code: 'INSUFFICIENT_PERMISSIONS' });
    expect(answers.verify(revokedKey.key, {}, Date.now())).toMatchObject({ valid: false, code: 'REVOKED' });
    expect(verifier.index.get(revokedKey.keyId)?.status).toBe('revoked');
    expect(verifier.projection.status()).toMatchObject({ stalledAt: undefined, failingClosed: false });
    expect(BigInt(verifier.projection.status().position.position)).toBeLessThan(9_000_000_000n);

    // Each refusal counted; the replay is genuine, so it is no refusal, only a no-op.
    expect(await rejectedCount(verifier.registry, 'bad-mac', 'bus')).toBe(3);
    expect(await rejectedCount(verifier.registry, 'malformed', 'bus')).toBe(1);
    expect(await rejectedCount(verifier.registry, 'wrong-subject', 'bus')).toBe(1);
    // At most 2 alerts at once, then one summary: together they count all five.
    const raised = await eventually('alerts for all five refusals', () => alerts.reduce((sum, alert) => sum + alert.rejected, 0), (sum) => sum === 5);
    expect(raised).toBe(5);
    expect(alerts.length).toBeLessThanOrEqual(3);
    expect(alerts[0]).toMatchObject({ kind: 'events-rejected', service: 'verifier-a', source: 'bus', reason: 'bad-mac', rejected: 1 });
    // Alerts name events, never their data.
    expect(JSON.stringify(alerts)).not.toContain((issued.data['digest'] as { digest: string }).digest);
  });

  it('never applies, publishes or acts on rows inserted by SQL without the event key, and reports them', async () => {
    const [issued] = await ctx.store.readStream(streamIdOf('key', tenantKey.keyId));
    const digest = (issued!.data as { digest: unknown }).digest;
    const rootKeyId = newPrefixedId('key');
    // As the services' database role could: each row chained onto its stream with a correct hash.
    const forged = [
      await insertEventBySql(ctx.appDb, { streamId: streamIdOf('key', revokedKey.keyId), type: 'KeyResumed', data: { keyId: revokedKey.keyId } }, 'none'),
      await insertEventBySql(
        ctx.appDb,
        {
          streamId: streamIdOf('key', rootKeyId),
          type: 'KeyIssued',
          data: { ...(issued!.data as Record<string, unknown>), keyId: rootKeyId, tenant: ROOT_TENANT, scopes: ['keyledger:*'], digest },
        },
        'garbage',
      ),
      await insertEventBySql(ctx.appDb, { streamId: streamIdOf('key', tenantKey.keyId), type: 'KeyUpdated', data: { keyId: tenantKey.keyId, scopes: ['keyledger:*'] } }, 'unknown-version'),
    ];
    const after = await issue('after-forgery');
    await eventually('the verifier applied the key issued after the forged rows', () => verifier.index.get(after.keyId), Boolean);

    // The relay published what came after, and none of the forged rows.
    const info = await ctx.jsm.streams.info(ctx.topology.eventStream);
    const published = (await readStreamMessages(ctx.js, ctx.topology.eventStream, info.state.messages)).map((message) => message.headers?.get(MESSAGE_HEADERS.msgId));
    expect(published).toContain((await eventIdsOf(after.keyId))[0]);
    for (const row of forged) expect(published).not.toContain(row.eventId);

    // A catch-up from the store skips them, reports them, and holds the keys as they are.
    const fresh = await startVerifier(ctx, 'verifier-b');
    try {
      const freshAnswers = new KeyVerifier(fresh.index, hasher);
      expect(fresh.index.get(rootKeyId)).toBeUndefined();
      expect(freshAnswers.verify(revokedKey.key, {}, Date.now())).toMatchObject({ code: 'REVOKED' });
      expect(freshAnswers.verify(tenantKey.key, { scopes: ['keyledger:*'] }, Date.now())).toMatchObject({ code: 'INSUFFICIENT_PERMISSIONS' });
      expect(fresh.index.get(after.keyId)).toBeDefined();
      expect(await rejectedCount(fresh.registry, 'unsealed', 'store')).toBe(1);
      expect(await rejectedCount(fresh.registry, 'bad-mac', 'store')).toBe(1);
      expect(await rejectedCount(fresh.registry, 'unknown-key-version', 'store')).toBe(1);
      await eventually('a store alert', () => alerts.filter((alert) => alert.service === 'verifier-b'), (raised) => raised.length > 0);
      expect(alerts.find((alert) => alert.service === 'verifier-b')).toMatchObject({ source: 'store', reason: 'unsealed', eventId: forged[0]!.eventId });
    } finally {
      await fresh.projection.stop();
      fresh.rejections.close();
    }

    // The chain check finds each, at its position, though every hash chains.
    const report = await verifyEventChains(ctx.ownerDb, ctx.auth.authenticator);
    expect(report.ok).toBe(false);
    expect(report.breaks.map(({ position, streamVersion, reason }) => ({ position, streamVersion, reason }))).toEqual(
      expect.arrayContaining(forged.map(({ position, streamVersion }) => ({ position, streamVersion, reason: 'mac-mismatch' }))),
    );
    expect(report.breaks).toHaveLength(3);

    // A command on a stream holding one fails with the typed error and writes nothing.
    const before = await ctx.ownerDb.query<{ count: number }[]>(`select count(*)::int as count from events`);
    await expect(keys.resume(revokedKey.keyId, admin)).rejects.toBeInstanceOf(EventIntegrityError);
    await expect(keys.suspend({ keyId: tenantKey.keyId, reason: 'audit' }, admin)).rejects.toMatchObject({
      code: 'EVENT_INTEGRITY',
      streamId: streamIdOf('key', tenantKey.keyId),
      position: forged[2]!.position,
    });
    expect(await ctx.ownerDb.query<{ count: number }[]>(`select count(*)::int as count from events`)).toEqual(before);
  });
});
