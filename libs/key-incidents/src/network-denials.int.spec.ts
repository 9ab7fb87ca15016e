import type { DataSource } from 'typeorm';
import type { ApiError, SourceNetworkDeniedData, TenantNotification } from '@keyledger/contracts';
import { ROOT_TENANT, notificationSubject } from '@keyledger/contracts';
import type { CommandContext } from '@keyledger/admin-auth';
import { NO_STREAM, PostgresEventStore, START_OF_LOG } from '@keyledger/event-store';
import { KeyIndex, decodeKeyIndex, encodeKeyIndex } from '@keyledger/key-projection';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testMetadata } from '@keyledger/testing';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import { IncidentNotificationPublisher } from './incident-response.js';
import type { EnumerationResponseDependencies } from './network-denials.js';
import { NetworkDenialCommands, respondToEnumeration } from './network-denials.js';

const HOUR = 3_600_000;
const ACTOR = { actor: 'system:anomaly-detector', correlationId: 'c', causationId: 'c' };

describe('source network denials in the store and the verifiers’ projection', () => {
  let ctx: TestContext;
  let tenants: TenantSettingsCommands;
  let commands: NetworkDenialCommands;
  const index = new KeyIndex();
  const root: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  const as = (tenant: string): CommandContext => ({ caller: { keyId: `key_${tenant}`, tenant, scopes: ['keyledger:*'] }, correlationId: 'test' });
  const errorOf = (promise: Promise<unknown>): Promise<ApiError> =>
    promise.then(
      () => Promise.reject(new Error('expected a failure')),
      (error: ApiError) => error,
    );
  /** Folds the store's network events into `into` until `ready` says it holds what it should. */
  const fold = async (into: KeyIndex, ready: () => boolean): Promise<void> => {
    await eventually(
      'the projection holds the denials',
      async () => {
        for (const event of (await ctx.store.readAll(START_OF_LOG, 100_000, 'network')).events) into.apply(event);
        return ready();
      },
      Boolean,
    );
  };

  let enumerations: EnumerationResponseDependencies;
  /** What a tenant's notification subject holds. */
  const notified = async (tenant: string): Promise<TenantNotification[]> => {
    const consumer = await ctx.js.consumers.get(ctx.topology.notificationStream, { filter_subjects: notificationSubject(ctx.topology.subjectPrefix, tenant) });
    const found: TenantNotification[] = [];
    for (let message = await consumer.next({ expires: 1000 }); message; message = await consumer.next({ expires: 1000 })) found.push(message.json());
    return found;
  };

  beforeAll(async () => {
    ctx = await createTestContext('network-denials');
    tenants = new TenantSettingsCommands({ store: ctx.store });
    commands = new NetworkDenialCommands({ store: ctx.store, index });
    enumerations = { store: ctx.store, notifications: new IncidentNotificationPublisher(ctx.js, ctx.topology.subjectPrefix, ctx.auth.authenticator) };
  });
  afterAll(() => ctx.close());

  it('records every enumeration on its network’s stream and tells its tenant, denying the network only under a deny policy, once per finding, for the policy’s time', async () => {
    const finding = {
      findingId: '0190a3c4-0000-7000-8000-0000000000e1',
      network: '203.0.113.0/24',
      tenant: 'acme',
      severity: 'high',
      detail: '60 unknown keys',
    } as const;
    const at = Date.now();
    const notifyOnly = { ...finding, findingId: '0190a3c4-0000-7000-8000-0000000000e0' };
    expect(await respondToEnumeration(enumerations, notifyOnly, at, ACTOR)).toBeUndefined();
    expect(await ctx.store.readStream('network-203.0.113.0_24')).toMatchObject([
      {
        eventId: notifyOnly.findingId,
        type: 'SourceAnomalyDetected',
        data: {
          network: '203.0.113.0/24',
          tenant: 'acme',
          detector: 'enumeration',
          severity: 'high',
          detail: '60 unknown keys',
          detectedAt: new Date(at).toISOString(),
        },
      },
    ]);
    await tenants.setIncidentPolicy({ tenant: 'acme', onLeak: null, onAnomaly: null, graceMs: null, onEnumeration: 'deny', denyForMs: HOUR }, root);
    // A slow one, under the same policy, is only told.
    expect(
      await respondToEnumeration(enumerations, { ...finding, findingId: '0190a3c4-0000-7000-8000-0000000000e2', severity: 'medium' }, at, ACTOR),
    ).toBeUndefined();
    const denial = await respondToEnumeration(enumerations, finding, at, ACTOR);
    expect(denial).toMatchObject({
      network: '203.0.113.0/24',
      tenant: 'acme',
      until: new Date(at + HOUR).toISOString(),
      reason: 'enumeration',
      findingId: finding.findingId,
    });
    // A redelivered usage batch finds the same finding again: nothing more is recorded, nor told.
    await respondToEnumeration(enumerations, finding, at, ACTOR);
    expect((await ctx.store.readStream('network-203.0.113.0_24')).map((event) => event.type)).toEqual([
      'SourceAnomalyDetected',
      'SourceAnomalyDetected',
      'SourceAnomalyDetected',
      'SourceNetworkDenied',
    ]);
    expect((await notified('acme')).map((n) => n.type === 'SourceIncident' && [n.incidentId, n.severity, n.policy, n.action, n.until])).toEqual([
      [notifyOnly.findingId, 'high', 'notify', 'notify', undefined],
      ['0190a3c4-0000-7000-8000-0000000000e2', 'medium', 'deny', 'notify', undefined],
      [finding.findingId, 'high', 'deny', 'deny', new Date(at + HOUR).toISOString()],
    ]);
    // Calls that named no tenant: recorded for every tenant's operator (root) to see, and no tenant's to be told of or to deny.
    const nameless = { ...finding, findingId: '0190a3c4-0000-7000-8000-0000000000e3', network: '198.18.0.0/24', tenant: undefined };
    expect(await respondToEnumeration(enumerations, nameless, at, ACTOR)).toBeUndefined();
    expect((await ctx.store.readStream('network-198.18.0.0_24')).map((event) => [event.type, (event.data as { tenant: string }).tenant])).toEqual([
      ['SourceAnomalyDetected', '*'],
    ]);
    await fold(index, () => index.networkDenials.denies('203.0.113.50', 'acme', at));
    expect(index.networkDenials.denies('203.0.113.50', 'globex', at)).toBe(false);
    expect(commands.list({}, as('acme').caller).map((view) => view.network)).toEqual(['203.0.113.0/24']);
    expect(commands.list({}, as('globex').caller)).toEqual([]);
  });

  /** A burst from `100.64.<n>.0/24` asking for acme, whose policy denies. */
  const burstFrom = (n: number, detail: string) =>
    ({ findingId: `0190a3c4-0000-7000-8000-0000000000f${n}`, network: `100.64.${n}.0/24`, tenant: 'acme', severity: 'high', detail }) as const;

  it('takes a finding recorded before with another count (another replica’s, after a lock handover) as recorded: its denial and notification follow once', async () => {
    const at = Date.now();
    const finding = burstFrom(1, '60 unknown keys');
    await respondToEnumeration(enumerations, finding, at, ACTOR);
    // The replica that took the lock over began with empty source watches: the same finding, counted otherwise.
    expect(await respondToEnumeration(enumerations, { ...finding, detail: '41 unknown keys' }, at, ACTOR)).toMatchObject({
      findingId: finding.findingId,
      until: new Date(at + HOUR).toISOString(),
    });
    expect((await ctx.store.readStream('network-100.64.1.0_24')).map((event) => [event.type, (event.data as { detail: string }).detail])).toEqual([
      ['SourceAnomalyDetected', '60 unknown keys'],
      ['SourceNetworkDenied', '60 unknown keys'],
    ]);
    expect((await notified('acme')).filter((n) => n.incidentId === finding.findingId)).toMatchObject([{ detail: '60 unknown keys', action: 'deny' }]);
  });

  it('tells the tenant on the next attempt when the notification failed after the finding and its denial were recorded, and denies once though the policy changed', async () => {
    const at = Date.now();
    const finding = burstFrom(2, '30 unknown keys');
    let failures = 1;
    const flaky: EnumerationResponseDependencies = {
      store: ctx.store,
      notifications: {
        publish: async (notification) => {
          if (failures > 0) {
            failures -= 1;
            throw new Error('publishing the SourceIncident timed out');
          }
          await enumerations.notifications.publish(notification);
        },
      },
    };
    await expect(respondToEnumeration(flaky, finding, at, ACTOR)).rejects.toThrow('publishing the SourceIncident timed out');
    expect((await ctx.store.readStream('network-100.64.2.0_24')).map((event) => event.type)).toEqual(['SourceAnomalyDetected', 'SourceNetworkDenied']);
    // The tenant denies for longer now; the finding's denial was made under the policy of its time.
    await tenants.setIncidentPolicy({ tenant: 'acme', onLeak: null, onAnomaly: null, graceMs: null, onEnumeration: 'deny', denyForMs: 2 * HOUR }, root);
    try {
      expect(await respondToEnumeration(flaky, finding, at, ACTOR)).toMatchObject({ until: new Date(at + HOUR).toISOString() });
    } finally {
      await tenants.setIncidentPolicy({ tenant: 'acme', onLeak: null, onAnomaly: null, graceMs: null, onEnumeration: 'deny', denyForMs: HOUR }, root);
    }
    expect(await ctx.store.readStream('network-100.64.2.0_24')).toHaveLength(2);
    expect((await notified('acme')).filter((n) => n.incidentId === finding.findingId)).toMatchObject([
      { action: 'deny', until: new Date(at + HOUR).toISOString() },
    ]);
  });

  it('keeps denials and their streams’ versions across a snapshot, so a repeated event changes nothing after it', async () => {
    await commands.deny({ network: '2001:db8:7::/48', tenant: '*', forMs: HOUR }, root);
    await fold(index, () => index.networkDenials.denies('2001:db8:7::1', 'globex', Date.now()));
    const restored = new KeyIndex();
    decodeKeyIndex(encodeKeyIndex(index), restored);
    expect(restored.networkDenials.list()).toEqual(index.networkDenials.list());
    expect(restored.networkDenials.denies('2001:db8:7:1::9', 'initech', Date.now())).toBe(true);
    // Every event again, as a replica that restored the snapshot and replays from before it would get them.
    for (const event of (await ctx.store.readAll(START_OF_LOG, 100_000, 'network')).events) expect(restored.apply(event)).toBe(false);
  });

  it('lifts a denial early for whoever may act on its tenant, and every tenant’s only for a root key', async () => {
    expect(await errorOf(commands.deny({ network: '198.51.100.0/24', tenant: '*', forMs: HOUR }, as('acme')))).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(await errorOf(commands.deny({ network: '198.51.100.0/24', tenant: 'globex', forMs: HOUR }, as('acme')))).toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    expect(await errorOf(commands.deny({ network: 'not-a-network', tenant: 'acme', forMs: HOUR }, as('acme')))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // A tenant's denial is enforced on every caller from the network: most of the Internet is not a tenant's to deny.
    for (const network of ['0.0.0.0/0', '::/0', '10.0.0.0/8'])
      expect(await errorOf(commands.deny({ network, tenant: 'acme', forMs: HOUR }, as('acme')))).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(await ctx.store.readStream('network-0.0.0.0_0')).toHaveLength(0);
    expect(await errorOf(commands.allow({ network: '2001:db8:7::/48', tenant: '*' }, as('acme')))).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(await ctx.store.readStream('network-198.51.100.0_24')).toHaveLength(0);
    expect(await commands.allow({ network: '203.0.113.9/24', tenant: 'acme' }, as('acme'))).toEqual({
      network: '203.0.113.0/24',
      tenant: 'acme',
      lifted: true,
    });
    expect(await commands.allow({ network: '203.0.113.0/24', tenant: 'acme' }, as('acme'))).toEqual({
      network: '203.0.113.0/24',
      tenant: 'acme',
      lifted: false,
    });
    await fold(index, () => !index.networkDenials.denies('203.0.113.50', 'acme', Date.now()));
    expect((await ctx.store.readStream('network-203.0.113.0_24')).map((event) => event.type).slice(-2)).toEqual([
      'SourceNetworkDenied',
      'SourceNetworkAllowed',
    ]);
  });

  describe('who may append network events, as the database decides', () => {
    const denied = (network: string): { type: 'SourceNetworkDenied'; data: SourceNetworkDeniedData; metadata: ReturnType<typeof testMetadata> } => ({
      type: 'SourceNetworkDenied',
      data: { network, tenant: '*', until: new Date(Date.now() + HOUR).toISOString(), reason: 'operator', deniedBy: 'forger', at: new Date().toISOString() },
      metadata: testMetadata(),
    });
    let detector: DataSource;
    let verifier: DataSource;
    let auditor: DataSource;
    beforeAll(async () => {
      detector = await ctx.connectAs('anomaly-detector');
      verifier = await ctx.connectAs('verifier');
      auditor = await ctx.connectAs('auditor');
    });

    it('refuses a verifier’s and an auditor’s denial, and the anomaly detector’s lift', async () => {
      await expect(new PostgresEventStore(verifier, ctx.auth).append('network-192.0.2.0_24', NO_STREAM, [denied('192.0.2.0/24')])).rejects.toThrow(
        /row-level security policy/,
      );
      await expect(new PostgresEventStore(auditor, ctx.auth).append('network-192.0.2.0_24', NO_STREAM, [denied('192.0.2.0/24')])).rejects.toThrow(
        /permission denied/,
      );
      const store = new PostgresEventStore(detector, ctx.auth);
      await store.append('network-192.0.2.0_24', NO_STREAM, [denied('192.0.2.0/24')]);
      const lift = {
        type: 'SourceNetworkAllowed',
        data: { network: '192.0.2.0/24', tenant: '*', allowedBy: 'forger', at: new Date().toISOString() },
        metadata: testMetadata(),
      } as const;
      await expect(store.append('network-192.0.2.0_24', 1, [lift])).rejects.toThrow(/row-level security policy/);
      // Nor may it put a denial on another category's stream.
      await expect(store.append('key-key_0000000000000000000000dn01', NO_STREAM, [denied('192.0.2.0/24')])).rejects.toThrow(/row-level security policy/);
      // An enumeration it found is its to record; not a verifier's.
      const found = {
        type: 'SourceAnomalyDetected',
        data: { network: '192.0.2.0/24', tenant: '*', detector: 'enumeration', severity: 'high', detail: 'x', detectedAt: new Date().toISOString() },
        metadata: testMetadata(),
      } as const;
      await expect(new PostgresEventStore(verifier, ctx.auth).append('network-192.0.2.0_24', 1, [found])).rejects.toThrow(/row-level security policy/);
      await store.append('network-192.0.2.0_24', 1, [found]);
      expect((await ctx.store.readStream('network-192.0.2.0_24')).map((event) => event.type)).toEqual(['SourceNetworkDenied', 'SourceAnomalyDetected']);
    });
  });
});
