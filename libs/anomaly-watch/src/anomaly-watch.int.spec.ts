import type { DataSource } from 'typeorm';
import type { AnomalyDetectedData, KeyUsed, UsageBatchV1 } from '@keyledger/contracts';
import { usageSubject } from '@keyledger/contracts';
import type { KeyBaseline } from '@keyledger/anomaly-detection';
import { AnomalyDetector, newKeyBaseline } from '@keyledger/anomaly-detection';
import { NO_STREAM, PostgresEventStore } from '@keyledger/event-store';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually, testKeyIssuedData, testKeyUsed, testMetadata, testUsageBatch } from '@keyledger/testing';
import { sealUsageBatchMessage } from '@keyledger/usage-recorder';
import { AnomalyMemory } from './anomaly-memory.js';
import type { SourceFindingResponder } from './anomaly-watch.js';
import { AnomalyConsumer, AnomalyWatch } from './anomaly-watch.js';
import { DetectorLock } from './detector-lock.js';

/**
 * The watch on real NATS and Postgres, as the anomaly detector's own database role: what it
 * records, what it keeps across a restart, and that a second replica waits.
 */
describe('anomaly watch', () => {
  let ctx: TestContext;
  let db: DataSource;
  let store: PostgresEventStore;
  const running: AnomalyConsumer[] = [];
  const keyId = 'key_0000000000000000000000aw01';

  beforeAll(async () => {
    ctx = await createTestContext('anomalywatch');
    db = await ctx.connectAs('anomaly-detector');
    store = new PostgresEventStore(db, ctx.auth);
    await ctx.store.append(`key-${keyId}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId), metadata: testMetadata() }]);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((consumer) => consumer.stop()));
  });
  afterAll(() => ctx.close());

  /** A detector process: its own detector and watch over the stored baselines, consuming. */
  async function startDetector(
    respondToSourceFinding?: SourceFindingResponder,
    options: { memory?: AnomalyMemory; saveWaitMs?: number } = {},
  ): Promise<{ detector: AnomalyDetector; watch: AnomalyWatch }> {
    const detector = new AnomalyDetector(Date.now);
    const watch = new AnomalyWatch({
      ...(respondToSourceFinding === undefined ? {} : { respondToSourceFinding }),
      detector,
      memory: options.memory ?? new AnomalyMemory(db),
      logger: ctx.logger,
      auth: ctx.auth,
      recordKeyAnomaly: async (anomaly: AnomalyDetectedData, eventId: string) => {
        const streamId = `key-${anomaly.keyId}`;
        // Once by id, as the service's recorder is: a redelivered batch finds the same finding again.
        if ((await store.readStream(streamId)).some((event) => event.eventId === eventId)) return;
        await store.append(streamId, await store.streamVersion(streamId), [
          { eventId, type: 'AnomalyDetected', data: anomaly, metadata: { actor: 'system:anomaly-detector', correlationId: eventId, causationId: eventId } },
        ]);
      },
    });
    await watch.load();
    const consumer = new AnomalyConsumer({ nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, logger: ctx.logger }, watch, {
      batchesPerSave: 16,
      ackWaitMs: Math.max(2000, (options.saveWaitMs ?? 0) * 3),
      ...(options.saveWaitMs === undefined ? {} : { saveWaitMs: options.saveWaitMs }),
      redelivery: { maxDeliveries: 5, backoffMs: [50] },
    });
    running.push(consumer);
    await consumer.start();
    return { detector, watch };
  }

  const used = (code: KeyUsed['code'], at = Date.now()): KeyUsed => testKeyUsed(keyId, code, at);
  const batch = testUsageBatch;
  let published = 0;
  /** Publishes a batch sealed as a verifier seals it, each time under a new message id, so a batch sent again reaches the watch as a redelivery would. */
  const publish = async (message: UsageBatchV1): Promise<void> => {
    const msgID = `${message.batchId}-${(published += 1)}`;
    const sealed = sealUsageBatchMessage(ctx.auth.authenticator, { batchId: msgID, payload: JSON.stringify(message) });
    await ctx.js.publish(usageSubject(ctx.topology.subjectPrefix), sealed.payload, { msgID, headers: sealed.headers });
  };
  const anomalies = async () => (await ctx.store.readStream(`key-${keyId}`)).filter((event) => event.type === 'AnomalyDetected');

  it('records a revoked key presented as AnomalyDetected on its stream, once; a restart keeps the baseline and the cool-down and learns no batch twice', async () => {
    const first = batch([used('VALID'), used('REVOKED'), used('REVOKED')]);
    const { detector } = await startDetector();
    await publish(first);
    await eventually(
      'the anomaly recorded',
      async () => (await anomalies()).length,
      (n) => n === 1,
    );
    expect((await anomalies())[0]!.data).toMatchObject({ keyId, tenant: 'acme', kind: 'dead-key-use', severity: 'high' });
    expect((await anomalies())[0]!.metadata.actor).toBe('system:anomaly-detector');
    await eventually(
      'the baseline saved',
      async () => (await new AnomalyMemory(db).baselines([keyId])).baselines.get(keyId)?.calls,
      (calls) => calls === 3,
    );
    expect(detector.baseline(keyId)!.calls).toBe(3);
    await running.splice(0)[0]!.stop();

    // A restart: the same batch again (a redelivery after a crash before the ack), and more dead-key calls inside the cool-down.
    const { detector: restarted } = await startDetector();
    expect(restarted.baseline(keyId)!.calls).toBe(3);
    await publish(first);
    await publish(batch([used('REVOKED')]));
    await eventually(
      'the new batch learned',
      () => restarted.baseline(keyId)?.calls,
      (calls) => calls === 4,
    );
    expect(await anomalies()).toHaveLength(1);
  });

  it('acts again on an enumeration whose response failed: the redelivered batch finds it anew, not cooling down, under the same id', async () => {
    const responses: { findingId: string; outcome: string }[] = [];
    // What follows the finding fails once, as a notification publish that timed out would.
    await startDetector((_finding, findingId) => {
      const outcome = responses.length === 0 ? 'failed' : 'done';
      responses.push({ findingId, outcome });
      return outcome === 'failed' ? Promise.reject(new Error('publishing the SourceIncident timed out')) : Promise.resolve();
    });
    const at = Date.now();
    const guesses: KeyUsed[] = Array.from({ length: 25 }, (_, i) => ({
      fingerprint: i.toString(16).padStart(16, '0'),
      tenant: 'acme',
      ip: '203.0.113.5',
      at: at + i,
      scopes: [],
      code: 'NOT_FOUND',
      cost: 0,
      transport: 'http',
    }));
    await publish(batch(guesses));
    await eventually(
      'the response done after the failed one',
      () => responses.filter((response) => response.outcome === 'done').length,
      (done) => done >= 2,
    );
    // The medium and the high finding, each failed (the first) or done, and every done one under an id tried before.
    const done = responses.filter((response) => response.outcome === 'done').map((response) => response.findingId);
    expect(done).toContain(responses[0]!.findingId);
    const recorded = await db.query<{ finding_id: string; severity: string }[]>(
      `select finding_id, severity from anomaly_source_findings where network = '203.0.113.0/24' order by severity`,
    );
    expect(recorded.map((row) => row.severity)).toEqual(['high', 'medium']);
    expect(new Set(done)).toEqual(new Set(recorded.map((row) => row.finding_id)));
  });

  it('records findings as batches arrive and saves what several batches taught once; a failed save relearns them all from the saved baselines', async () => {
    const waiting = 'key_0000000000000000000000aw02';
    await ctx.store.append(`key-${waiting}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(waiting), metadata: testMetadata() }]);
    const saves: { keys: string[]; batches: number }[] = [];
    let failSaves = 1;
    const memory = new (class extends AnomalyMemory {
      override async save(...args: Parameters<AnomalyMemory['save']>): Promise<void> {
        saves.push({ keys: args[0].map(([key]) => key), batches: args[1].length });
        if (failSaves-- > 0) throw new Error('simulated: the save lost its connection');
        await super.save(...args);
      }
    })(db);
    const { detector } = await startDetector(undefined, { memory, saveWaitMs: 3000 });
    const findings = async () => (await ctx.store.readStream(`key-${waiting}`)).filter((event) => event.type === 'AnomalyDetected');
    await publish(batch([testKeyUsed(waiting, 'VALID'), testKeyUsed(waiting, 'REVOKED')]));
    // Found before the save: the finding does not wait for the batch's save.
    await eventually(
      'the finding recorded',
      async () => (await findings()).length,
      (n) => n === 1,
    );
    expect(saves).toEqual([]);
    await publish(batch([testKeyUsed(waiting, 'VALID')]));
    await publish(batch([testKeyUsed(waiting, 'VALID')]));
    await eventually(
      'saved after the failed save',
      async () => (await new AnomalyMemory(db).baselines([waiting])).baselines.get(waiting)?.calls,
      (calls) => calls !== undefined,
    );
    // One save for the three batches, failed; then the redelivered three learned again from no baseline, saved once.
    expect(saves.map((save) => save.batches)).toEqual([3, 3]);
    expect(saves.every((save) => save.keys.filter((key) => key === waiting).length === 1)).toBe(true);
    expect((await new AnomalyMemory(db).baselines([waiting])).baselines.get(waiting)!.calls).toBe(4);
    expect(detector.baseline(waiting)!.calls).toBe(4);
    expect(await findings()).toHaveLength(1);
  });

  it('gives up what an abandoned window learned, so the batches come back and are learned once', async () => {
    const handed = 'key_0000000000000000000000aw03';
    await ctx.store.append(`key-${handed}`, NO_STREAM, [{ type: 'KeyIssued', data: testKeyIssuedData(handed), metadata: testMetadata() }]);
    const { detector, watch } = await startDetector(undefined, { saveWaitMs: 5000 });
    await publish(batch([testKeyUsed(handed, 'VALID'), testKeyUsed(handed, 'VALID')]));
    await eventually(
      'learned, not saved',
      () => Promise.resolve(detector.baseline(handed)?.calls),
      (calls) => calls === 2,
    );
    // The lock lost: the window is given back to the stream, not saved.
    await running.splice(0)[0]!.stop({ abandon: true });
    expect((await new AnomalyMemory(db).baselines([handed])).baselines.get(handed)).toBeUndefined();
    // The same process takes the lock again: the batch returns and is learned from what was saved (nothing).
    const again = new AnomalyConsumer({ nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, logger: ctx.logger }, watch, {
      batchesPerSave: 16,
      ackWaitMs: 2000,
      redelivery: { maxDeliveries: 5, backoffMs: [50] },
    });
    running.push(again);
    await again.start();
    await eventually(
      'saved once',
      async () => (await new AnomalyMemory(db).baselines([handed])).baselines.get(handed)?.calls,
      (calls) => calls !== undefined,
    );
    expect((await new AnomalyMemory(db).baselines([handed])).baselines.get(handed)!.calls).toBe(2);
    expect(detector.baseline(handed)!.calls).toBe(2);
  });

  it('learns a batch that comes twice in one call once, and saves nothing once the lock is lost', async () => {
    const twice = 'key_0000000000000000000000aw04';
    let leading = true;
    const detector = new AnomalyDetector(Date.now);
    const watch = new AnomalyWatch({
      detector,
      memory: new AnomalyMemory(db),
      logger: ctx.logger,
      auth: ctx.auth,
      recordKeyAnomaly: () => Promise.resolve(),
      stillLeading: () => Promise.resolve(leading),
    });
    const first = batch([testKeyUsed(twice, 'VALID'), testKeyUsed(twice, 'VALID')]);
    await watch.receive([first, first]);
    expect(detector.baseline(twice)!.calls).toBe(2);
    leading = false;
    await expect(watch.store([first])).rejects.toThrow(/lock was lost/);
    expect((await new AnomalyMemory(db).baselines([twice])).baselines.get(twice)).toBeUndefined();
    // Led again, the batch comes back and is learned from what was saved (nothing), once.
    leading = true;
    await watch.receive([first]);
    await watch.store([first]);
    expect((await new AnomalyMemory(db).baselines([twice])).baselines.get(twice)!.calls).toBe(2);
    expect(detector.baseline(twice)!.calls).toBe(2);
  });

  it('stores baselines whose texts hold line feeds, quotes and backslashes exactly, and saves over them', async () => {
    const memory = new AnomalyMemory(db);
    const awkward = ['line\nfeed', 'quote " and \\ backslash', '{brace, comma}', 'tab\there \u2028 é 😀', ''];
    const keys = awkward.map((_, i) => `key_0000000000000000000000awm${i}`);
    const first = keys.map((key, i): [string, KeyBaseline] => [
      key,
      { ...newKeyBaseline(awkward[i]!, 1_765_000_000_000 + i, 60_000), networks: [awkward[i]!], networkSeen: [i] },
    ]);
    await memory.save(first, []);
    expect((await memory.baselines(keys)).baselines).toEqual(new Map(first));
    const second = first.map(([key, baseline]): [string, KeyBaseline] => [key, { ...baseline, calls: baseline.calls + 7, tenant: `${baseline.tenant}\n2` }]);
    await memory.save([...second].reverse(), []);
    const { baselines, unreadable } = await memory.baselines(keys);
    expect(unreadable).toEqual([]);
    expect(baselines).toEqual(new Map(second));
  });

  it('lets one replica hold the detector lock, and the next take it when the first lets go', async () => {
    const a = new DetectorLock(db, ctx.schema);
    const b = new DetectorLock(await ctx.connectAs('anomaly-detector'), ctx.schema);
    // Another installation on the same server has a lock of its own.
    const elsewhere = new DetectorLock(db, `${ctx.schema}_other`);
    expect(await a.tryTake()).toBe(true);
    expect(await a.stillHeld()).toBe(true);
    expect(await b.tryTake()).toBe(false);
    expect(await elsewhere.tryTake()).toBe(true);
    await elsewhere.release();
    await a.release();
    expect(await b.tryTake()).toBe(true);
    expect(await a.tryTake()).toBe(false);
    await b.release();
  });
});
