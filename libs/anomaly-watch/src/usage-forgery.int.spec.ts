import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DataSource } from 'typeorm';
import type { AnomalyDetectedData, KeyUsed, UsageBatchV1 } from '@keyledger/contracts';
import { MESSAGE_HEADERS, formatUsageSeal } from '@keyledger/contracts';
import { AnomalyDetector } from '@keyledger/anomaly-detection';
import { EventAuthenticator } from '@keyledger/event-auth';
import { NO_STREAM, PostgresEventStore } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyIssuedData, testKeyUsed, testMetadata, testUsageBatch } from '@keyledger/testing';
import { DEFAULT_USAGE_CONSUMER_SETTINGS, UsageConsumer, UsageLedger } from '@keyledger/usage-ledger';
import { jetStreamUsagePublisher, sealUsageBatchMessage } from '@keyledger/usage-recorder';
import { AnomalyMemory } from './anomaly-memory.js';
import { AnomalyConsumer, AnomalyWatch } from './anomaly-watch.js';

/**
 * Forged usage on an open NATS: a stranger publishes batches straight onto the usage subject,
 * unsealed, sealed with its own key, with a genuine seal on a changed body, a genuine batch
 * re-sent under a new batch id, a genuine seal moved onto its own batch, and under a key
 * version nobody holds. Every forgery claims a revoked key was presented, which would make the
 * anomaly detector record `dead-key-use` (and the rotator act on the tenant's incident policy),
 * and adds calls the auditor would store. The auditor's ledger and the anomaly detector, both on
 * real NATS and Postgres, take only the verifier's genuine batches.
 */
describe('forged usage batches', () => {
  let ctx: TestContext;
  let detectorDb: DataSource;
  let stranger: NatsConnection;
  let ledger: UsageLedger;
  let detector: AnomalyDetector;
  let usage: UsageConsumer;
  let anomalies: AnomalyConsumer;
  const keyId = 'key_0000000000000000000000fg01';
  const settings = { ackWaitMs: 2000, redelivery: { maxDeliveries: 5, backoffMs: [50] } };

  beforeAll(async () => {
    ctx = await createTestContext('usageforgery');
    detectorDb = await ctx.connectAs('anomaly-detector');
    // A plain connection of its own: anyone who can reach an open NATS.
    stranger = await connect({ servers: ctx.natsUrl, name: 'stranger' });
    await ctx.store.append(`key-${keyId}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId), metadata: testMetadata() }]);
    ledger = new UsageLedger(ctx.appDb);
    usage = new UsageConsumer(
      { nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, ledger, logger: ctx.logger, auth: ctx.auth },
      { ...DEFAULT_USAGE_CONSUMER_SETTINGS, ...settings },
    );
    await usage.start();
    detector = new AnomalyDetector(Date.now);
    const store = new PostgresEventStore(detectorDb, ctx.auth);
    const watch = new AnomalyWatch({
      detector,
      memory: new AnomalyMemory(detectorDb),
      logger: ctx.logger,
      auth: ctx.auth,
      recordKeyAnomaly: async (anomaly: AnomalyDetectedData, eventId: string) => {
        const streamId = `key-${anomaly.keyId}`;
        await store.append(streamId, await store.streamVersion(streamId), [
          { eventId, type: 'AnomalyDetected', data: anomaly, metadata: { actor: 'system:anomaly-detector', correlationId: eventId, causationId: eventId } },
        ]);
      },
    });
    await watch.load();
    anomalies = new AnomalyConsumer({ nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, logger: ctx.logger }, watch, {
      batchesPerSave: 16,
      ...settings,
    });
    await anomalies.start();
  });
  afterAll(async () => {
    await Promise.all([usage?.stop(), anomalies?.stop()]);
    await stranger?.close();
    await ctx?.close();
  });

  const used = (code: KeyUsed['code'], at: number): KeyUsed => testKeyUsed(keyId, code, at);
  const batch = testUsageBatch;
  /** Three uses of a revoked key: what every forgery claims. */
  const revokedUses = (): KeyUsed[] => [used('REVOKED', Date.now()), used('REVOKED', Date.now() + 1), used('REVOKED', Date.now() + 2)];

  /** What the stranger sends: any body, any headers it likes, any message id. */
  const strangerPublishes = async (body: string | Uint8Array, msgID: string, seal?: string): Promise<void> => {
    const h = headers();
    if (seal !== undefined) h.set(MESSAGE_HEADERS.usageSeal, seal);
    await jetstream(stranger).publish(ctx.topology.usageSubject, body, { msgID, headers: h });
  };
  const sealOf = (authenticator: EventAuthenticator, forged: UsageBatchV1, msgID = forged.batchId): string =>
    formatUsageSeal(authenticator.sealUsageBatch(msgID, new TextEncoder().encode(JSON.stringify(forged))));

  const calls = async (): Promise<number> =>
    (await ledger.keyUsage(keyId, 'acme', { since: Date.now() - 86_400_000, until: Date.now() + 86_400_000 }, 'day')).totals.calls;
  const storedBatches = async (ids: readonly string[]): Promise<string[]> =>
    (await ctx.ownerDb.query<{ batch_id: string }[]>('select batch_id from usage_batches where batch_id = any($1) order by batch_id', [ids]))
      .map((row) => row.batch_id)
      .sort();
  const anomaliesRecorded = async () => (await ctx.store.readStream(`key-${keyId}`)).filter((event) => event.type === 'AnomalyDetected');
  const caughtUp = async (): Promise<boolean> => {
    const backlogs = await Promise.all([usage.backlog(), anomalies.backlog()]);
    return backlogs.every((backlog) => backlog.pending + backlog.ackPending === 0);
  };

  it('stores and learns only the verifier’s batches; each forgery is refused by both readers, counted and acknowledged, never dead-lettered', async () => {
    const verifier = jetStreamUsagePublisher(ctx.js, ctx.topology, ctx.auth.authenticator);
    const publishGenuine = (genuine: UsageBatchV1) => verifier({ batchId: genuine.batchId, records: genuine.records.length, payload: JSON.stringify(genuine) });
    const forgedIds: string[] = [];
    const forged = (): UsageBatchV1 => {
      const made = batch(revokedUses());
      forgedIds.push(made.batchId);
      return made;
    };

    // Unsealed, as an older verifier's batch or a stranger's.
    const unsealed = forged();
    await strangerPublishes(JSON.stringify(unsealed), unsealed.batchId);
    // Sealed with the stranger's own key under the installation's version.
    const ownKey = forged();
    const impostor = new EventAuthenticator([{ version: ctx.auth.authenticator.currentVersion, secret: randomBytes(32) }]);
    await strangerPublishes(JSON.stringify(ownKey), ownKey.batchId, sealOf(impostor, ownKey));
    // Under a key version nobody configured.
    const retired = forged();
    await strangerPublishes(JSON.stringify(retired), retired.batchId, sealOf(new EventAuthenticator([{ version: 999, secret: randomBytes(32) }]), retired));
    // A genuine seal (of a batch caught before it reached the stream) on a changed body: the records made revoked.
    const caught = batch([used('VALID', Date.now())]);
    const tampered: UsageBatchV1 = { ...caught, records: revokedUses() };
    forgedIds.push(caught.batchId);
    await strangerPublishes(JSON.stringify(tampered), caught.batchId, sealOf(ctx.auth.authenticator, caught));

    // The verifier's batch, then the stranger replays it byte for byte under a new batch id
    // (past JetStream's duplicate window), and moves its seal onto a batch of its own.
    const genuine = batch([used('VALID', Date.now()), used('VALID', Date.now() + 1)]);
    await publishGenuine(genuine);
    const original = sealUsageBatchMessage(ctx.auth.authenticator, { batchId: genuine.batchId, payload: JSON.stringify(genuine) });
    const replayId = newPrefixedId('ub');
    await strangerPublishes(original.payload, replayId, original.headers.get(MESSAGE_HEADERS.usageSeal));
    const moved = forged();
    await strangerPublishes(JSON.stringify(moved), moved.batchId, original.headers.get(MESSAGE_HEADERS.usageSeal));

    await eventually('both readers caught up', caughtUp, (done) => done, 20_000);
    expect(await calls()).toBe(2);
    expect(await storedBatches([...forgedIds, replayId, genuine.batchId])).toEqual([genuine.batchId]);
    expect(detector.baseline(keyId)?.calls).toBe(2);
    expect(await anomaliesRecorded()).toEqual([]);
    const refused = ctx.auth.rejections.all.filter((rejection) => rejection.subject === ctx.topology.usageSubject);
    // Each forgery once by the auditor's reader and once by the anomaly detector's.
    expect(refused.map((rejection) => `${rejection.source} ${rejection.reason}`).sort()).toEqual(
      ['unsealed', 'bad-mac', 'unknown-key-version', 'bad-mac', 'bad-mac', 'bad-mac'].flatMap((reason) => [`bus ${reason}`, `bus ${reason}`]).sort(),
    );
    expect(usage.counts()).toMatchObject({ rejected: 6, 'dead-lettered': 0 });
    expect(anomalies.counts()).toMatchObject({ rejected: 6, 'dead-lettered': 0 });
    expect((await ctx.jsm.streams.info(ctx.topology.deadLetterStream)).state.messages).toBe(0);

    // The same claim from the verifier is believed: the detector records the revoked key's use.
    await publishGenuine(batch(revokedUses()));
    await eventually(
      'the genuine anomaly recorded',
      async () => (await anomaliesRecorded()).length,
      (n) => n === 1,
      20_000,
    );
    expect((await anomaliesRecorded())[0]!.data).toMatchObject({ keyId, kind: 'dead-key-use' });
    await eventually('the genuine uses stored', calls, (n) => n === 5, 20_000);
  });
});
