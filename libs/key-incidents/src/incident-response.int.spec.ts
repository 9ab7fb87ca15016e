import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { EventEnvelope, IncidentNotification, KeyIncidentHandledData, KeyIssuedData, KeyRotatedData } from '@keyledger/contracts';
import { ROOT_TENANT, deliverySubject, notificationSubject, streamIdOf } from '@keyledger/contracts';
import { DurableEventConsumer } from '@keyledger/consumer-runtime';
import { START_OF_LOG } from '@keyledger/event-store';
import { SealedKeyPublisher, x25519PublicKeyToBase64 } from '@keyledger/key-delivery';
import { KeyIndex } from '@keyledger/key-projection';
import { PendingDeliveries } from '@keyledger/pending-deliveries';
import { KeyHasher } from '@keyledger/key-secrets';
import type { OutboxRelay } from '@keyledger/outbox-relay';
import { createOutboxRelay } from '@keyledger/outbox-relay';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, openDelivered } from '@keyledger/testing';
import { ANOMALY_DETECTOR_ACTOR } from '@keyledger/anomaly-detection';
import { IncidentReports, recordAnomaly } from './incident-reports.js';
import { IncidentNotificationPublisher, IncidentResponder, IncidentResponseProjection } from './incident-response.js';
import type { CommandContext } from '@keyledger/admin-auth';
import { commandMetadata } from '@keyledger/admin-auth';
import { KeyCommands, TenantKeyQuota } from '@keyledger/key-commands';
import { KeyDeliveries, KeyRotation } from '@keyledger/key-rotation';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';

const HOUR = 3_600_000;
const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'incident-test' };

/** Everything an incident touches, against one isolated schema and set of streams. */
interface Installation {
  readonly ctx: TestContext;
  readonly issuer: KeyCommands;
  readonly reports: IncidentReports;
  readonly tenants: TenantSettingsCommands;
  /** The rotator's KeyRotation (actor system:rotator), as the rotator service builds it. */
  readonly rotatorRotation: KeyRotation;
  readonly publisher: IncidentNotificationPublisher;
  responder(notifications?: Pick<IncidentNotificationPublisher, 'publish'>): IncidentResponder;
  issue(tenant: string, owner: string, scopes?: string[]): Promise<{ keyId: string; key: string }>;
  events(keyId: string): Promise<EventEnvelope[]>;
  notifications(tenant: string): Promise<IncidentNotification[]>;
  close(): Promise<void>;
}

/** `quota`: the rotator holds each tenant to that many live keys, counted from `rotatorIndex` (which the test feeds). */
async function installation(label: string, quota?: { readonly keys: number; readonly rotatorIndex: KeyIndex }): Promise<Installation> {
  const ctx = await createTestContext(label);
  const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);
  const delivery = new KeyDeliveries(
    { store: ctx.store, pending: new PendingDeliveries(ctx.appDb), publisher: new SealedKeyPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.deliverySigner) },
    { retry: { minMs: 5000, maxMs: 60_000 }, ttlMs: HOUR },
  );
  const issuer = new KeyCommands({ store: ctx.store, hasher, index: new KeyIndex() });
  const rotatorDeps = {
    store: ctx.store,
    hasher,
    index: quota?.rotatorIndex ?? new KeyIndex(),
    delivery,
    systemActor: 'system:rotator',
    quota: quota && new TenantKeyQuota(quota.rotatorIndex, quota.keys),
  };
  const rotatorKeys = new KeyCommands(rotatorDeps);
  const rotatorRotation = new KeyRotation(rotatorDeps);
  const publisher = new IncidentNotificationPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.auth.authenticator);
  return {
    ctx,
    issuer,
    reports: new IncidentReports({ store: ctx.store, hasher, index: new KeyIndex() }),
    tenants: new TenantSettingsCommands({ store: ctx.store }),
    rotatorRotation,
    publisher,
    responder: (notifications = publisher) =>
      new IncidentResponder({ keys: rotatorKeys, rotation: rotatorRotation, store: ctx.store, notifications, logger: ctx.logger }),
    issue: (tenant, owner, scopes = ['orders:read']) =>
      issuer.issue({ tenant, owner, environment: 'live', scopes, ipAllowlist: [], metadata: {}, rateLimits: [] }, admin),
    events: (keyId) => ctx.store.readStream(streamIdOf('key', keyId)),
    async notifications(tenant) {
      const consumer = await ctx.js.consumers.get(ctx.topology.notificationStream, {
        filter_subjects: notificationSubject(ctx.topology.subjectPrefix, tenant),
      });
      const found: IncidentNotification[] = [];
      for (let message = await consumer.next({ expires: 1000 }); message; message = await consumer.next({ expires: 1000 }))
        found.push(message.json<IncidentNotification>());
      return found;
    },
    close: () => ctx.close(),
  };
}

const handledOf = (events: readonly EventEnvelope[]): KeyIncidentHandledData[] =>
  events.filter((event) => event.type === 'KeyIncidentHandled').map((event) => event.data as KeyIncidentHandledData);

describe('the rotator’s response to incidents, through its durable consumer', () => {
  let it0: Installation;
  let relay: OutboxRelay;
  let consumer: DurableEventConsumer;

  beforeAll(async () => {
    it0 = await installation('incidents');
    const { ctx } = it0;
    relay = createOutboxRelay({ ...ctx, db: ctx.appDb, settings: { batchSize: 100, pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 } });
    relay.start();
    consumer = new DurableEventConsumer(
      {
        dataSource: ctx.appDb,
        nc: ctx.nc,
        js: ctx.js,
        jsm: ctx.jsm,
        topology: ctx.topology,
        projection: new IncidentResponseProjection(it0.responder()),
        logger: ctx.logger,
        auth: ctx.auth,
      },
      { redelivery: { maxDeliveries: 5, backoffMs: [50, 200] }, ackWaitMs: 5000, prefetch: 16 },
    );
    await consumer.start();
  });

  afterAll(async () => {
    await consumer.stop();
    await relay.stop();
    await it0.close();
  });

  const handled = (keyId: string): Promise<EventEnvelope[]> =>
    eventually(
      `incident on ${keyId} handled`,
      () => it0.events(keyId),
      (events) => events.some((event) => event.type === 'KeyIncidentHandled'),
      20_000,
    );

  it('rotates a leaked key by the default policy with a 1 h grace, once, delivers the new key sealed, notifies and records it', async () => {
    const owner = generateKeyPairSync('x25519');
    await it0.tenants.registerOwnerPublicKey({ tenant: 'acme', owner: 'billing', publicKey: x25519PublicKeyToBase64(owner.publicKey) }, admin);
    const leaked = await it0.issue('acme', 'billing');
    const report = await it0.reports.reportLeak({ keyId: leaked.keyId, source: { file: 'deploy.yaml', line: 3, commit: 'abcdef1' } }, admin);
    expect(report).toMatchObject({ outcome: 'REPORTED', pendingAction: 'rotate' });

    const events = await handled(leaked.keyId);
    expect(events.map((event) => event.type)).toEqual(['KeyIssued', 'KeyLeakReported', 'KeyRotated', 'KeyIncidentHandled']);
    const [, reported, rotated, record] = events as [EventEnvelope, EventEnvelope, EventEnvelope, EventEnvelope];
    const rotation = rotated.data as KeyRotatedData;
    // The rotation is the incident's: caused by it, in the report's correlation, by the rotator.
    expect(rotated.metadata).toMatchObject({ actor: 'system:rotator', causationId: report.incidentId, correlationId: reported.metadata.correlationId });
    expect(Date.parse(rotation.graceEndsAt) - Date.parse(rotated.occurredAt)).toBeGreaterThan(HOUR - 1000);
    expect(Date.parse(rotation.graceEndsAt) - Date.parse(rotated.occurredAt)).toBeLessThanOrEqual(HOUR);
    expect(record.data).toEqual({
      keyId: leaked.keyId,
      tenant: 'acme',
      incident: { type: 'KeyLeakReported', eventId: report.incidentId },
      policy: 'rotate',
      action: 'rotate',
      replacedBy: rotation.replacedBy,
      graceEndsAt: rotation.graceEndsAt,
      at: expect.any(String),
    });
    const [replacement] = await it0.events(rotation.replacedBy);
    expect(replacement!.data as KeyIssuedData).toMatchObject({ rotatedFrom: leaked.keyId, owner: 'billing', scopes: ['orders:read'] });

    // The new key reached its owner sealed, and nowhere else.
    const deliveries = await it0.ctx.js.consumers.get(it0.ctx.topology.deliveryStream, {
      filter_subjects: deliverySubject(it0.ctx.topology.subjectPrefix, 'acme', 'billing'),
    });
    const envelope = await deliveries.next({ expires: 2000 });
    const opened = openDelivered(it0.ctx, envelope!.data, { tenant: 'acme', owner: 'billing', privateKey: owner.privateKey });
    expect(opened.keyId).toBe(rotation.replacedBy);

    expect(await it0.notifications('acme')).toEqual([
      {
        v: 1,
        type: 'KeyIncident',
        incidentId: report.incidentId,
        incident: 'KeyLeakReported',
        keyId: leaked.keyId,
        tenant: 'acme',
        owner: 'billing',
        hint: report.hint,
        source: { file: 'deploy.yaml', line: 3, commit: 'abcdef1' },
        policy: 'rotate',
        action: 'rotate',
        replacedBy: rotation.replacedBy,
        graceEndsAt: rotation.graceEndsAt,
        delivery: 'DELIVERED',
        at: (record.data as KeyIncidentHandledData).at,
      },
    ]);
    const stored = JSON.stringify(await it0.ctx.ownerDb.query(`select data, metadata from events`));
    for (const plaintext of [leaked.key, opened.key]) expect(stored).not.toContain(plaintext);

    // Handled again (a redelivery past the inbox, a second replica): nothing more happens.
    expect(await it0.responder().handle(reported)).toEqual(record.data);
    expect(await it0.events(leaked.keyId)).toHaveLength(4);
    // A second report of the rotated key, elsewhere, is recorded and notified but rotates nothing.
    await it0.reports.reportLeak({ keyId: leaked.keyId, source: { description: 'pasted in a ticket' } }, admin);
    await eventually(
      'second incident handled',
      () => it0.events(leaked.keyId),
      (all) => handledOf(all).length === 2,
      20_000,
    );
    expect(handledOf(await it0.events(leaked.keyId))[1]).toMatchObject({ action: 'notify', reason: 'already-rotated', policy: 'rotate' });
    expect((await it0.events(leaked.keyId)).filter((event) => event.type === 'KeyRotated')).toHaveLength(1);
  });

  it('stops the old key at once under an emergency-rotate or suspend policy', async () => {
    await it0.tenants.setIncidentPolicy({ tenant: 'globex', onLeak: 'emergency-rotate', onAnomaly: null, graceMs: null }, admin);
    await it0.tenants.setIncidentPolicy({ tenant: 'globex', owner: 'batch', onLeak: 'suspend', onAnomaly: null, graceMs: null }, admin);
    const [svc, batch] = [await it0.issue('globex', 'svc'), await it0.issue('globex', 'batch')];
    await it0.reports.reportLeak({ keyId: svc.keyId, source: { file: 'a.env' } }, admin);
    await it0.reports.reportLeak({ keyId: batch.keyId, source: { file: 'a.env' } }, admin);

    expect(handledOf(await handled(svc.keyId))[0]).toMatchObject({ policy: 'emergency-rotate', action: 'emergency-rotate', replacedBy: expect.any(String) });
    expect(await it0.issuer.get(svc.keyId, admin.caller)).toMatchObject({ status: 'revoked', rotation: { emergency: true } });
    expect(handledOf(await handled(batch.keyId))[0]).toMatchObject({ policy: 'suspend', action: 'suspend' });
    expect(await it0.issuer.get(batch.keyId, admin.caller)).toMatchObject({ status: 'suspended', rotation: null });
    const suspension = (await it0.events(batch.keyId)).find((event) => event.type === 'KeySuspended')!;
    expect(suspension.data).toEqual({ keyId: batch.keyId, reason: 'reported leaked' });
  });

  it('rotates on an anomaly whose policy says so, and stays silent when the policy says none', async () => {
    await it0.tenants.setIncidentPolicy({ tenant: 'initech', onLeak: null, onAnomaly: 'none', graceMs: null }, admin);
    await it0.tenants.setIncidentPolicy({ tenant: 'initech', owner: 'payments', onLeak: null, onAnomaly: 'rotate', graceMs: 5 * 60_000 }, admin);
    const [quiet, payments] = [await it0.issue('initech', 'quiet'), await it0.issue('initech', 'payments')];
    await it0.reports.reportAnomaly({ keyId: quiet.keyId, kind: 'usage-spike', severity: 'high', detail: '1200/min against 40' }, admin);
    const anomaly = await it0.reports.reportAnomaly({ keyId: payments.keyId, kind: 'new-source', severity: 'critical' }, admin);

    expect(handledOf(await handled(quiet.keyId))[0]).toMatchObject({ policy: 'none', action: 'none' });
    const [paid] = handledOf(await handled(payments.keyId));
    expect(paid).toMatchObject({ incident: { type: 'AnomalyDetected', eventId: anomaly.incidentId }, policy: 'rotate', action: 'rotate' });
    expect(Date.parse(paid!.graceEndsAt!) - Date.parse(paid!.at)).toBeLessThanOrEqual(5 * 60_000);
    expect(Date.parse(paid!.graceEndsAt!) - Date.parse(paid!.at)).toBeGreaterThan(5 * 60_000 - 2000);
    const notified = await it0.notifications('initech');
    expect(notified.map((n) => [n.keyId, n.action, n.anomaly])).toEqual([[payments.keyId, 'rotate', { kind: 'new-source', severity: 'critical' }]]);
  });

  it('answers an anomaly by the first rule matching its detector and severity, an older finding by the detector its detail names', async () => {
    await it0.tenants.setIncidentPolicy(
      {
        tenant: 'wonka',
        onLeak: null,
        onAnomaly: 'none',
        graceMs: null,
        anomalyRules: [
          { detector: 'probing', minSeverity: 'high', action: 'suspend' },
          { minSeverity: 'medium', action: 'notify' },
        ],
      },
      admin,
    );
    // An empty list is set: the owner's keys answer by onAnomaly alone, not by the tenant's rules.
    await it0.tenants.setIncidentPolicy({ tenant: 'wonka', owner: 'legacy', onLeak: null, onAnomaly: null, graceMs: null, anomalyRules: [] }, admin);
    const [medium, high, older, reported, legacy] = [
      await it0.issue('wonka', 'svc'),
      await it0.issue('wonka', 'svc'),
      await it0.issue('wonka', 'svc'),
      await it0.issue('wonka', 'svc'),
      await it0.issue('wonka', 'legacy'),
    ];
    const detected = (keyId: string, severity: 'medium' | 'high', extra: { detector?: 'probing' } = { detector: 'probing' }) =>
      recordAnomaly(
        it0.ctx.store,
        { keyId, tenant: 'wonka', kind: 'error-rate', severity, detail: 'probing: 40 refused calls in 10 s', detectedAt: new Date().toISOString(), ...extra },
        { actor: ANOMALY_DETECTOR_ACTOR, correlationId: 'rules-test', causationId: 'rules-test' },
      );
    await detected(medium.keyId, 'medium');
    await detected(high.keyId, 'high');
    await detected(older.keyId, 'high', {});
    await detected(legacy.keyId, 'high');
    // An operator's report names no detector, whatever its detail says: only the rule for any detector applies.
    await it0.reports.reportAnomaly({ keyId: reported.keyId, kind: 'error-rate', severity: 'high', detail: 'probing: seen by hand' }, admin);

    expect(handledOf(await handled(medium.keyId))[0]).toMatchObject({ policy: 'notify', action: 'notify' });
    expect(handledOf(await handled(high.keyId))[0]).toMatchObject({ policy: 'suspend', action: 'suspend' });
    expect(handledOf(await handled(older.keyId))[0]).toMatchObject({ policy: 'suspend', action: 'suspend' });
    expect(handledOf(await handled(reported.keyId))[0]).toMatchObject({ policy: 'notify', action: 'notify' });
    expect(handledOf(await handled(legacy.keyId))[0]).toMatchObject({ policy: 'none', action: 'none' });
    expect(await it0.issuer.get(medium.keyId, admin.caller)).toMatchObject({ status: 'active' });
    expect(await it0.issuer.get(high.keyId, admin.caller)).toMatchObject({ status: 'suspended' });
    expect(await it0.issuer.get(legacy.keyId, admin.caller)).toMatchObject({ status: 'active' });
    const notified = await it0.notifications('wonka');
    expect(new Map(notified.map((n) => [n.keyId, n.action]))).toEqual(
      new Map([
        [medium.keyId, 'notify'],
        [high.keyId, 'suspend'],
        [older.keyId, 'suspend'],
        [reported.keyId, 'notify'],
      ]),
    );
  });

  it('only notifies about an admin key, and does nothing about a revoked one', async () => {
    const ops = await it0.issue('umbrella', 'ops', ['keyledger:keys:read']);
    const revoked = await it0.issue('umbrella', 'old');
    await it0.issuer.revoke({ keyId: revoked.keyId, reason: 'retired', waitForVerifiers: false }, admin);
    await it0.reports.reportLeak({ keyId: ops.keyId, source: { file: 'ops.env' } }, admin);
    await it0.reports.reportLeak({ keyId: revoked.keyId, source: { file: 'old.env' } }, admin);
    expect(handledOf(await handled(ops.keyId))[0]).toMatchObject({ policy: 'rotate', action: 'notify', reason: 'admin-key' });
    expect(handledOf(await handled(revoked.keyId))[0]).toMatchObject({ policy: 'rotate', action: 'none', reason: 'key-revoked' });
    expect(await it0.issuer.get(ops.keyId, admin.caller)).toMatchObject({ status: 'active', rotation: null });
    expect((await it0.notifications('umbrella')).map((n) => [n.keyId, n.action, n.reason])).toEqual([[ops.keyId, 'notify', 'admin-key']]);
  });
});

describe('an incident interrupted or handled twice', () => {
  let it1: Installation;

  beforeAll(async () => {
    it1 = await installation('incidents-crash');
  });

  afterAll(async () => {
    await it1.close();
  });

  /** A leak report, as the consumer would receive it. */
  async function reportedLeak(owner: string): Promise<{ keyId: string; incident: EventEnvelope }> {
    const { keyId } = await it1.issue('acme', owner);
    const { incidentId } = await it1.reports.reportLeak({ keyId, source: { file: `${owner}.env` } }, admin);
    const incident = (await it1.events(keyId)).find((event) => event.eventId === incidentId)!;
    return { keyId, incident };
  }

  it('completes a handling killed after the rotation: records it, rotates nothing more', async () => {
    const { keyId, incident } = await reportedLeak('killed-after-rotation');
    // What a rotator killed right after the rotation left: the incident's rotation, no record.
    const rotated = await it1.rotatorRotation.rotate(
      { keyId, graceMs: HOUR, emergency: false, waitForVerifiers: false },
      { ...admin, causationId: incident.eventId, correlationId: incident.metadata.correlationId },
    );
    const recorded = await it1.responder().handle(incident);
    expect(recorded).toMatchObject({ action: 'rotate', replacedBy: rotated.keyId, policy: 'rotate' });
    const events = await it1.events(keyId);
    expect(events.map((event) => event.type)).toEqual(['KeyIssued', 'KeyLeakReported', 'KeyRotated', 'KeyIncidentHandled']);
    expect(await it1.events(rotated.keyId)).toHaveLength(1);
  });

  it('completes a rotation killed between its two appends, issuing the recorded replacement', async () => {
    const { keyId, incident } = await reportedLeak('killed-mid-rotation');
    const replacedBy = 'key_01jdzzzzzzzzzzzzzzzzzzzzzz';
    const graceEndsAt = new Date(Date.now() + HOUR).toISOString();
    await it1.ctx.store.append(streamIdOf('key', keyId), 2, [
      {
        type: 'KeyRotated',
        data: { keyId, replacedBy, graceEndsAt },
        metadata: commandMetadata({ ...admin, causationId: incident.eventId }, 'system:rotator'),
      },
    ]);
    expect(await it1.responder().handle(incident)).toMatchObject({ action: 'rotate', replacedBy, graceEndsAt });
    const [issued] = await it1.events(replacedBy);
    expect(issued).toMatchObject({ type: 'KeyIssued', data: { rotatedFrom: keyId } });
    expect(issued!.metadata.causationId).toBe(incident.eventId);
  });

  it('completes an emergency rotation killed between its two appends, though the old key is already revoked', async () => {
    await it1.tenants.setIncidentPolicy({ tenant: 'acme', owner: 'killed-mid-emergency', onLeak: 'emergency-rotate', onAnomaly: null, graceMs: null }, admin);
    const { keyId, incident } = await reportedLeak('killed-mid-emergency');
    const replacedBy = 'key_01jdyyyyyyyyyyyyyyyyyyyyyy';
    // What the first append of an emergency rotation leaves: rotated and revoked, no replacement.
    await it1.ctx.store.append(streamIdOf('key', keyId), 2, [
      {
        type: 'KeyRotated',
        data: { keyId, replacedBy, graceEndsAt: new Date().toISOString(), emergency: true },
        metadata: commandMetadata({ ...admin, causationId: incident.eventId }, 'system:rotator'),
      },
      {
        type: 'KeyRevoked',
        data: { keyId, reason: 'emergency rotation' },
        metadata: commandMetadata({ ...admin, causationId: incident.eventId }, 'system:rotator'),
      },
    ]);
    expect(await it1.responder().handle(incident)).toMatchObject({ action: 'emergency-rotate', replacedBy });
    const [issued] = await it1.events(replacedBy);
    expect(issued).toMatchObject({ type: 'KeyIssued', data: { rotatedFrom: keyId } });
    // Revoked once, by the first append.
    expect((await it1.events(keyId)).filter((event) => event.type === 'KeyRevoked')).toHaveLength(1);
  });

  it('acts once when two replicas handle one incident at the same time', async () => {
    const { keyId, incident } = await reportedLeak('raced');
    const [a, b] = await Promise.all([it1.responder().handle(incident), it1.responder().handle(incident)]);
    expect(a).toEqual(b);
    const events = await it1.events(keyId);
    expect(events.filter((event) => event.type === 'KeyRotated')).toHaveLength(1);
    expect(handledOf(events)).toEqual([a]);
    const { replacedBy } = events.find((event) => event.type === 'KeyRotated')!.data as KeyRotatedData;
    expect((await it1.events(replacedBy)).map((event) => [event.type, (event.data as KeyIssuedData).rotatedFrom])).toEqual([['KeyIssued', keyId]]);
  });

  it('redelivers an incident whose notification failed, and on redelivery records it without a second rotation', async () => {
    const relay = createOutboxRelay({
      ...it1.ctx,
      db: it1.ctx.appDb,
      settings: { batchSize: 100, pollIntervalMs: 50, standbyRetryMs: 100, retryDelayMs: 100 },
    });
    let failures = 1;
    // NATS refusing the first publish, as during a server restart.
    const flaky = {
      publish: async (notification: IncidentNotification): Promise<void> => {
        if (failures-- > 0) throw new Error('simulated: JetStream did not answer');
        await it1.publisher.publish(notification);
      },
    };
    const consumer = new DurableEventConsumer(
      {
        dataSource: it1.ctx.appDb,
        nc: it1.ctx.nc,
        js: it1.ctx.js,
        jsm: it1.ctx.jsm,
        topology: it1.ctx.topology,
        projection: new IncidentResponseProjection(it1.responder(flaky)),
        logger: it1.ctx.logger,
        auth: it1.ctx.auth,
      },
      { redelivery: { maxDeliveries: 5, backoffMs: [100] }, ackWaitMs: 5000, prefetch: 16 },
    );
    try {
      const { keyId, incident } = await reportedLeak('flaky-notifications');
      relay.start();
      await consumer.start();
      const events = await eventually(
        'handled after a redelivery',
        () => it1.events(keyId),
        (all) => handledOf(all).length === 1,
        20_000,
      );
      expect(consumer.counts()['retry-scheduled']).toBeGreaterThanOrEqual(1);
      expect(events.filter((event) => event.type === 'KeyRotated')).toHaveLength(1);
      expect(handledOf(events)[0]).toMatchObject({ action: 'rotate', incident: { eventId: incident.eventId } });
      const notified = (await it1.notifications('acme')).filter((n) => n.keyId === keyId);
      expect(notified).toHaveLength(1);
      expect(notified[0]).toMatchObject({ action: 'rotate' });
    } finally {
      await consumer.stop();
      await relay.stop();
    }
  });
});

describe('an incident rotation of a tenant at its key quota', () => {
  const rotatorIndex = new KeyIndex();
  let it2: Installation;

  beforeAll(async () => {
    it2 = await installation('incidents-quota', { keys: 2, rotatorIndex });
  });

  afterAll(async () => {
    await it2.close();
  });

  /** The rotator's projection, brought up to the store by hand (no relay runs here). */
  async function projectStore(): Promise<void> {
    for (const event of (await it2.ctx.store.readAll(START_OF_LOG, 100_000)).events) rotatorIndex.apply(event);
  }

  async function reportedLeak(keyId: string): Promise<EventEnvelope> {
    const { incidentId } = await it2.reports.reportLeak({ keyId, source: { file: 'leak.env' } }, admin);
    return (await it2.events(keyId)).find((event) => event.eventId === incidentId)!;
  }

  it('notifies the tenant (tenant-key-quota) instead of rotating with a grace, and records it once rather than failing', async () => {
    const [leaked] = [await it2.issue('initech', 'billing'), await it2.issue('initech', 'other')];
    const incident = await reportedLeak(leaked.keyId);
    await projectStore();
    expect(await it2.responder().handle(incident)).toMatchObject({ policy: 'rotate', action: 'notify', reason: 'tenant-key-quota' });
    expect((await it2.events(leaked.keyId)).map((event) => event.type)).toEqual(['KeyIssued', 'KeyLeakReported', 'KeyIncidentHandled']);
    expect((await it2.notifications('initech')).map((n) => [n.keyId, n.action, n.reason])).toEqual([[leaked.keyId, 'notify', 'tenant-key-quota']]);
  });

  it('still rotates in an emergency, which adds no live key', async () => {
    await it2.tenants.setIncidentPolicy({ tenant: 'hooli', onLeak: 'emergency-rotate', onAnomaly: null, graceMs: null }, admin);
    const [leaked] = [await it2.issue('hooli', 'billing'), await it2.issue('hooli', 'other')];
    const incident = await reportedLeak(leaked.keyId);
    await projectStore();
    expect(await it2.responder().handle(incident)).toMatchObject({ policy: 'emergency-rotate', action: 'emergency-rotate' });
  });
});
