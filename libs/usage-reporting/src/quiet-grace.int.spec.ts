import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { natsReply, parseRequest } from '@keyledger/api-transport';
import type { KeyGraceEndedData, KeyRotatedData, KeyUsed, LastUsedRequest } from '@keyledger/contracts';
import { ROOT_TENANT, apiSubject, lastUsedRequestSchema, streamIdOf } from '@keyledger/contracts';
import { START_OF_LOG } from '@keyledger/event-store';
import { newPrefixedId } from '@keyledger/ids';
import { statusAt } from '@keyledger/key-domain';
import type { CommandContext } from '@keyledger/admin-auth';
import { KeyCommands } from '@keyledger/key-commands';
import { KeyRotation, QuietGrace } from '@keyledger/key-rotation';
import { TenantSettingsCommands } from '@keyledger/tenant-settings';
import { KeyIndex } from '@keyledger/key-projection';
import { KeyHasher } from '@keyledger/key-secrets';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, eventually } from '@keyledger/testing';
import { UsageBuffer, jetStreamUsagePublisher } from '@keyledger/usage-recorder';
import { DEFAULT_USAGE_CONSUMER_SETTINGS, UsageConsumer, UsageLedger } from '@keyledger/usage-ledger';
import { AuditorLastUseClient } from './last-use-client.js';
import { UsageQueries } from './usage-queries.js';
import { newLastUsedNonce, sealLastUsedAnswer } from './last-used-answer.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const QUIET = 15 * MINUTE;
const LAG = 5000;

/**
 * The rotator's quiet-grace pass against the real pieces: keys rotated through KeyRotation
 * into Postgres, usage published by a verifier's UsageBuffer through JetStream and stored by the
 * auditor's UsageConsumer, the auditor's `usage.last-used` answered over NATS. The clock is the
 * test's, an hour ahead of the wall clock, so the stream's own timestamps (the wall clock) read
 * as an auditor far behind whenever something is left to ingest.
 */
describe('quiet grace (rotator ← auditor)', () => {
  let ctx: TestContext;
  let ledger: UsageLedger;
  let consumer: UsageConsumer;
  let buffer: UsageBuffer;
  let responder: Subscription;
  /** The auditor answers each request only once this has settled: lets a stranger answer first. */
  let auditorHeldUntil: Promise<void> = Promise.resolve();
  let now = Date.now() + HOUR;
  const clock = (): Date => new Date(now);
  const hasher = new KeyHasher([{ version: 1, secret: randomBytes(32) }]);
  const admin: CommandContext = { caller: { keyId: 'system', tenant: ROOT_TENANT, scopes: ['keyledger:*'] }, correlationId: 'test' };
  let keys: KeyCommands;
  let rotations: KeyRotation;
  let tenants: TenantSettingsCommands;

  const startConsumer = async (): Promise<void> => {
    consumer = new UsageConsumer(
      { nc: ctx.nc, js: ctx.js, jsm: ctx.jsm, topology: ctx.topology, ledger, logger: ctx.logger, auth: ctx.auth },
      { ...DEFAULT_USAGE_CONSUMER_SETTINGS, ackWaitMs: 1000, ingestWaitMs: 200, redelivery: { maxDeliveries: 5, backoffMs: [50] } },
    );
    await consumer.start();
  };

  /** A rotator replica: its own projection (synced from the store on demand) and its own KeyCommands. */
  /** A rotator replica; its auditor client waits up to 10 s, as the auditor's answer on a loaded machine may take seconds. */
  function replica(prefix = ctx.topology.subjectPrefix): { quiet: QuietGrace; sync: () => Promise<void>; index: KeyIndex; usage: AuditorLastUseClient } {
    const index = new KeyIndex();
    const own = new KeyCommands({ store: ctx.store, hasher, index, clock, systemActor: 'system:rotator' });
    const usage = new AuditorLastUseClient({ nc: ctx.nc, prefix, authenticator: ctx.auth.authenticator, logger: ctx.logger }, 10_000);
    const quiet = new QuietGrace({ keys: own, index, usage, logger: ctx.logger, clock }, { intervalMs: 60_000, usageLagMs: LAG });
    return {
      quiet,
      index,
      usage,
      sync: async () => {
        for (const event of await ctx.store.readAll(START_OF_LOG, 100_000, 'key').then((page) => page.events)) index.apply(event);
      },
    };
  }

  const issue = (owner = 'svc') => keys.issue({ tenant: 'acme', owner, environment: 'live', scopes: [], ipAllowlist: [], metadata: {}, rateLimits: [] }, admin);
  /** An hour on, a key rotated with a day's grace and the quiet period, then used 10 minutes after, the use stored. */
  const rotatedThenUsed = async (owner = 'svc') => {
    now += HOUR;
    const old = await issue(owner);
    await rotations.rotate({ keyId: old.keyId, emergency: false, waitForVerifiers: false, graceMs: 24 * HOUR, quietPeriodMs: QUIET }, admin);
    const rotatedAt = now;
    const usedAt = rotatedAt + 10 * MINUTE;
    buffer.add(used(old.keyId, usedAt));
    await buffer.flush();
    await eventually(
      'the use stored',
      () => lastUse(old.keyId),
      (at) => at === usedAt,
    );
    return { old, rotatedAt, usedAt };
  };
  const used = (keyId: string, at: number, ip = '10.1.2.3'): KeyUsed => ({
    keyId,
    tenant: 'acme',
    at,
    ip,
    scopes: [],
    code: 'VALID',
    cost: 0,
    transport: 'http',
  });
  const graceEnds = async (keyId: string) =>
    (await ctx.store.readStream(streamIdOf('key', keyId))).filter((event) => event.type === 'KeyGraceEnded').map((event) => event.data as KeyGraceEndedData);
  const lastUse = async (keyId: string) => (await ledger.lastUses([keyId])).get(keyId);

  beforeAll(async () => {
    ctx = await createTestContext('quietgrace');
    ledger = new UsageLedger(ctx.appDb);
    keys = new KeyCommands({ store: ctx.store, hasher, index: new KeyIndex(), clock });
    rotations = new KeyRotation({ store: ctx.store, hasher, index: new KeyIndex(), clock });
    tenants = new TenantSettingsCommands({ store: ctx.store, clock });
    await startConsumer();
    buffer = new UsageBuffer(
      { publish: jetStreamUsagePublisher(ctx.js, ctx.topology, ctx.auth.authenticator), instance: 'verifier-int', newBatchId: () => newPrefixedId('ub') },
      { capacity: 10_000, batchRecords: 100, flushIntervalMs: 20, maxBatchBytes: 512 * 1024, retryDelayMs: 10, maxRetryDelayMs: 100 },
    );
    buffer.start();
    // The auditor's `usage.last-used`, as its NATS controller answers it (sealed); its clock is the test's.
    const queries = new UsageQueries(ledger, new KeyIndex(), () => now, { ingestedUntil: () => consumer.ingestedUntil(() => now) });
    responder = ctx.nc.subscribe(apiSubject(ctx.topology.subjectPrefix, 'usage.last-used'), {
      callback: (_error, message) => {
        void auditorHeldUntil
          .then(() =>
            natsReply(ctx.logger, async () => {
              const request = parseRequest(lastUsedRequestSchema, message.json());
              return sealLastUsedAnswer(ctx.auth.authenticator, request, await queries.lastUsed(request));
            }),
          )
          .then((reply) => message.respond(JSON.stringify(reply)));
      },
    });
  });

  afterAll(async () => {
    responder.unsubscribe();
    await buffer.close();
    await consumer.stop();
    await ctx.close();
  });

  it('records the policy’s quiet period with a rotation, and ends the grace of an old key nobody uses once it passed', async () => {
    await tenants.setRotationPolicy({ tenant: 'acme', maxAgeMs: null, graceMs: null, quietPeriodMs: QUIET }, admin);
    const old = await issue();
    const rotated = await rotations.rotate({ keyId: old.keyId, emergency: false, waitForVerifiers: false, graceMs: 24 * HOUR }, admin);
    const rotation = (await ctx.store.readStream(streamIdOf('key', old.keyId))).find((event) => event.type === 'KeyRotated')!.data as KeyRotatedData;
    expect(rotation).toMatchObject({ quietPeriodMs: QUIET, rotatedAt: new Date(now).toISOString() });
    const rotatedAt = now;

    const { quiet, sync, index } = replica();
    await sync();
    now = rotatedAt + QUIET - 1;
    expect(await quiet.runOnce()).toEqual({ ended: [], lost: [], failed: [], unconfirmed: [] });
    now = rotatedAt + QUIET + LAG;
    expect(await quiet.runOnce()).toMatchObject({ ended: [old.keyId], unconfirmed: [] });
    const [ended] = await graceEnds(old.keyId);
    expect(ended).toEqual({
      keyId: old.keyId,
      endedAt: new Date(now).toISOString(),
      reason: 'quiet',
      quietPeriodMs: QUIET,
      usageIngestedUntil: expect.any(String),
    });
    // Every projection folds it: the old key is expired from the end on, the new one untouched.
    await sync();
    const record = index.get(old.keyId)!;
    expect(record.expiresAt).toBe(now);
    expect(statusAt(record.status, record.expiresAt, now)).toBe('expired');
    expect(index.get(rotated.keyId)?.expiresAt).toBeUndefined();
    expect((await keys.get(old.keyId, admin.caller)).status).toBe('expired');
    // Nothing left to do.
    expect(await quiet.runOnce()).toEqual({ ended: [], lost: [], failed: [], unconfirmed: [] });
  });

  it('keeps the grace of an old key used after its rotation until it was quiet for the quiet period since its last use', async () => {
    const { old, rotatedAt, usedAt } = await rotatedThenUsed();

    const { quiet, sync } = replica();
    await sync();
    now = rotatedAt + QUIET + LAG; // quiet since the rotation, but not since the use
    expect((await quiet.runOnce()).ended).toEqual([]);
    now = usedAt + QUIET + LAG - 1;
    expect((await quiet.runOnce()).ended).toEqual([]);
    now = usedAt + QUIET + LAG;
    expect((await quiet.runOnce()).ended).toEqual([old.keyId]);
    expect(await graceEnds(old.keyId)).toEqual([expect.objectContaining({ lastUsedAt: new Date(usedAt).toISOString() })]);
  });

  it('does not end a grace while a use is waiting to be stored, and counts that use once it is', async () => {
    now += HOUR;
    const old = await issue();
    await rotations.rotate({ keyId: old.keyId, emergency: false, waitForVerifiers: false, graceMs: 24 * HOUR, quietPeriodMs: QUIET }, admin);
    const rotatedAt = now;
    const { quiet, sync } = replica();
    await sync();

    // The auditor stops storing; a verifier reports a use of the old key a few seconds before the quiet period is over.
    await consumer.stop();
    const usedAt = rotatedAt + QUIET - 3000;
    buffer.add(used(old.keyId, usedAt, '192.0.2.7'));
    await buffer.flush();
    now = rotatedAt + QUIET + LAG;
    const pass = await quiet.runOnce();
    expect(pass).toMatchObject({ ended: [], unconfirmed: [old.keyId] });
    expect(await graceEnds(old.keyId)).toEqual([]);

    await startConsumer();
    await eventually(
      'the use stored',
      () => lastUse(old.keyId),
      (at) => at === usedAt,
    );
    expect((await quiet.runOnce()).ended).toEqual([]);
    now = usedAt + QUIET + LAG;
    expect((await quiet.runOnce()).ended).toEqual([old.keyId]);
  });

  it('shows a rotation, by the old key or the new one, with the addresses that used the old key since and when last', async () => {
    now += HOUR;
    const old = await issue('reporting');
    const rotatedAt = now;
    const rotated = await rotations.rotate({ keyId: old.keyId, emergency: false, waitForVerifiers: false, graceMs: 24 * HOUR, quietPeriodMs: QUIET }, admin);
    buffer.add(used(old.keyId, rotatedAt - 1000, '198.51.100.1')); // before the rotation only
    buffer.add(used(old.keyId, rotatedAt + 1000, '198.51.100.2'));
    buffer.add(used(old.keyId, rotatedAt + 2000, '198.51.100.3'));
    buffer.add({ ...used(old.keyId, rotatedAt + 3000, '198.51.100.2'), code: 'INSUFFICIENT_PERMISSIONS' });
    await buffer.flush();
    await eventually(
      'the uses stored',
      () => lastUse(old.keyId),
      (at) => at === rotatedAt + 3000,
    );
    const { index, sync } = replica();
    await sync();
    const queries = new UsageQueries(ledger, index, () => now, { ingestedUntil: () => consumer.ingestedUntil(() => now) });
    const usage = await queries.rotationUsage({ keyId: old.keyId }, admin.caller);
    expect(usage).toMatchObject({
      keyId: old.keyId,
      replacedBy: rotated.keyId,
      owner: 'reporting',
      rotatedAt: new Date(rotatedAt).toISOString(),
      quietPeriodMs: QUIET,
      graceEnded: null,
      status: 'active',
      lastUsedAt: new Date(rotatedAt + 3000).toISOString(),
      sinceRotation: {
        sources: [
          { ip: '198.51.100.2', lastSeenAt: new Date(rotatedAt + 3000).toISOString(), invalid: 1 },
          { ip: '198.51.100.3', calls: 1, invalid: 0, lastSeenAt: new Date(rotatedAt + 2000).toISOString() },
        ],
      },
    });
    expect(usage.sinceRotation.sources.map((source) => source.ip)).not.toContain('198.51.100.1');
    expect(await queries.rotationUsage({ keyId: rotated.keyId }, admin.caller)).toEqual(usage);
    await expect(queries.rotationUsage({ keyId: (await issue('never-rotated')).keyId }, admin.caller)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await sync();
    const plain = (await issue('plain')).keyId;
    await sync();
    await expect(queries.rotationUsage({ keyId: plain }, admin.caller)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(queries.rotationUsage({ keyId: old.keyId }, { keyId: 'other', tenant: 'globex', scopes: ['keyledger:*'] })).rejects.toMatchObject({
      code: 'KEY_NOT_FOUND',
    });
  });

  it('ends no grace when the auditor does not answer', async () => {
    now += HOUR;
    const old = await issue();
    await rotations.rotate({ keyId: old.keyId, emergency: false, waitForVerifiers: false, graceMs: 24 * HOUR, quietPeriodMs: QUIET }, admin);
    // A rotator whose auditor is not there: nobody answers on its prefix.
    const { quiet, sync } = replica(`${ctx.topology.subjectPrefix}_nobody`);
    await sync();
    now += QUIET + LAG;
    const pass = await quiet.runOnce();
    expect(pass).toMatchObject({ ended: [], lost: [], failed: [] });
    expect(pass.unconfirmed).toContain(old.keyId);
    expect(quiet.counts()).toMatchObject({ ended: 0, usageUnavailable: 1 });
    expect(await graceEnds(old.keyId)).toEqual([]);
  });

  it('records one KeyGraceEnded when two replicas end the same grace at once', async () => {
    now += HOUR;
    const olds = await Promise.all([issue('a'), issue('b'), issue('c')]);
    for (const old of olds)
      await rotations.rotate({ keyId: old.keyId, emergency: false, waitForVerifiers: false, graceMs: 24 * HOUR, quietPeriodMs: QUIET }, admin);
    const [a, b] = [replica(), replica()];
    await Promise.all([a.sync(), b.sync()]);
    now += QUIET + LAG;
    const [passA, passB] = await Promise.all([a.quiet.runOnce(), b.quiet.runOnce()]);
    const ids = olds.map((old) => old.keyId).sort();
    // (The key of the test before, whose auditor did not answer, is ended here too.)
    const mine = (list: readonly string[]) => list.filter((id) => ids.includes(id)).sort();
    expect(mine([...passA.ended, ...passB.ended])).toEqual(ids);
    expect(mine([...passA.lost, ...passB.lost])).toEqual(ids);
    expect([...passA.failed, ...passB.failed]).toEqual([]);
    for (const old of olds) expect(await graceEnds(old.keyId)).toHaveLength(1);
  });

  describe('a stranger on NATS answering for the auditor', () => {
    let stranger: NatsConnection;
    const subject = (prefix: string) => apiSubject(prefix, 'usage.last-used');

    beforeAll(async () => {
      // A plain connection of its own: anyone who can reach an open NATS.
      stranger = await connect({ servers: ctx.natsUrl, name: 'stranger' });
    });

    afterAll(async () => {
      auditorHeldUntil = Promise.resolve();
      await stranger.close();
    });

    it('refuses a forged “never used” that answers the rotator first, ends no grace on it, and ends the grace on the auditor’s sealed answer', async () => {
      const { old, rotatedAt, usedAt } = await rotatedThenUsed('in-use');
      const { quiet, sync, usage } = replica();
      await sync();
      // Quiet since the rotation, not since the use: only a lie about the use ends the grace now.
      now = rotatedAt + QUIET + LAG;

      // The stranger answers at once, "never used, everything stored", sealed with a guess; the
      // auditor answers only once the server has the stranger's reply, so the rotator gets the forgery first.
      let forged = (): void => undefined;
      auditorHeldUntil = new Promise((resolve) => {
        forged = resolve;
      });
      const forgeries: string[] = [];
      const forger = stranger.subscribe(subject(ctx.topology.subjectPrefix), {
        callback: (_error, message) => {
          const request = message.json<{ keyIds: string[]; nonce: string }>();
          forgeries.push(request.nonce);
          const result = {
            ingestedUntil: new Date(now).toISOString(),
            keys: request.keyIds.map((keyId) => ({ keyId, lastUsedAt: null })),
            auth: { v: ctx.auth.authenticator.currentVersion, mac: randomBytes(32).toString('base64') },
          };
          message.respond(JSON.stringify({ ok: true, result }));
          void stranger.flush().then(forged);
        },
      });
      await stranger.flush();

      const pass = await quiet.runOnce();
      expect(forgeries).toHaveLength(1);
      expect(pass).toMatchObject({ ended: [], lost: [], failed: [] });
      expect(pass.unconfirmed).toContain(old.keyId);
      expect(usage.refusedAnswers).toBe(1);
      expect(quiet.counts()).toMatchObject({ ended: 0, usageUnavailable: 1 });
      expect(await graceEnds(old.keyId)).toEqual([]);

      // The stranger gone, the auditor's sealed answer is believed: still in use now, quiet a quiet period after its use.
      forger.unsubscribe();
      await stranger.flush();
      auditorHeldUntil = Promise.resolve();
      const believed = await quiet.runOnce();
      expect(believed.ended).not.toContain(old.keyId);
      expect(believed.unconfirmed).not.toContain(old.keyId);
      expect(await graceEnds(old.keyId)).toEqual([]);
      now = usedAt + QUIET + LAG;
      expect((await quiet.runOnce()).ended).toContain(old.keyId);
      expect(await graceEnds(old.keyId)).toEqual([expect.objectContaining({ reason: 'quiet', lastUsedAt: new Date(usedAt).toISOString() })]);
      expect(usage.refusedAnswers).toBe(1);
    });

    it('refuses the auditor’s genuine sealed answer to another request, and believes it relayed for the rotator’s own', async () => {
      now += HOUR;
      const old = await issue('relayed');
      await rotations.rotate({ keyId: old.keyId, emergency: false, waitForVerifiers: false, graceMs: 24 * HOUR, quietPeriodMs: QUIET }, admin);
      // A rotator whose requests only the stranger hears (its own prefix); the stranger asks the
      // real auditor and hands the rotator the auditor's sealed answer, to the request it chooses.
      const relayPrefix = `${ctx.topology.subjectPrefix}_relayed`;
      const { quiet, sync, usage } = replica(relayPrefix);
      await sync();
      now += QUIET + LAG; // never used: any answer believed ends the grace
      let asked: (request: LastUsedRequest) => LastUsedRequest = (request) => request;
      const relay = stranger.subscribe(subject(relayPrefix), {
        callback: (_error, message) => {
          const forwarded = asked(message.json<LastUsedRequest>());
          void stranger
            .request(subject(ctx.topology.subjectPrefix), JSON.stringify(forwarded), { timeout: 10_000 })
            .then((reply) => message.respond(reply.data))
            .catch(() => undefined); // the rotator then has no answer, and the assertions below say so
        },
      });
      await stranger.flush();

      asked = (request) => ({ ...request, nonce: newLastUsedNonce() });
      expect((await quiet.runOnce()).ended).toEqual([]);
      expect(usage.refusedAnswers).toBe(1);
      asked = (request) => ({ ...request, keyIds: [...request.keyIds, request.keyIds[0]!] });
      expect((await quiet.runOnce()).ended).toEqual([]);
      expect(usage.refusedAnswers).toBe(2);
      expect(quiet.counts()).toMatchObject({ ended: 0, usageUnavailable: 2 });
      expect(await graceEnds(old.keyId)).toEqual([]);

      // Relayed as asked, it is the auditor's answer to this very request: believed.
      asked = (request) => request;
      expect((await quiet.runOnce()).ended).toContain(old.keyId);
      expect(usage.refusedAnswers).toBe(2);
      expect(await graceEnds(old.keyId)).toHaveLength(1);
      relay.unsubscribe();
    });
  });
});
