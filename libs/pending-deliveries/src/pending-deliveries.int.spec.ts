import type { TestContext } from '@keyledger/testing';
import { createTestContext, testKeyIssuedData } from '@keyledger/testing';
import { newPrefixedId } from '@keyledger/ids';
import type { NewPendingDelivery } from './pending-deliveries.js';
import { PendingDeliveries } from './pending-deliveries.js';

const T0 = new Date('2030-01-01T00:00:00Z');
const later = (ms: number) => new Date(T0.getTime() + ms);

function row(keyId: string, overrides: Partial<NewPendingDelivery> = {}): NewPendingDelivery {
  return {
    keyId,
    channel: 'nats',
    tenant: 'acme',
    owner: 'billing',
    publicKey: 'A'.repeat(43) + '=',
    envelope: '{"v":2}',
    ackTokenHash: 'a'.repeat(64),
    digest: 'd'.repeat(64),
    createdAt: T0,
    expiresAt: later(3_600_000),
    attempts: 0,
    nextAttemptAt: T0,
    ...overrides,
  };
}

describe('pending deliveries', () => {
  let ctx: TestContext;
  let pending: PendingDeliveries;

  beforeAll(async () => {
    ctx = await createTestContext('pendingdeliv');
    pending = new PendingDeliveries(ctx.appDb);
  });
  afterAll(() => ctx.close());

  beforeEach(async () => {
    await ctx.ownerDb.query('delete from pending_deliveries');
  });

  it('claims due rows once across concurrent claimers, moving their next attempt forward', async () => {
    const keys = Array.from({ length: 20 }, () => newPrefixedId('key'));
    await pending.storeIssued(keys.map((keyId) => row(keyId)));
    const other = new PendingDeliveries(ctx.appDb);
    const [first, second] = await Promise.all([pending.claimDue(T0, 15, () => later(5000)), other.claimDue(T0, 15, () => later(5000))]);
    const claimed = [...first, ...second].map((claim) => claim.keyId);
    expect(claimed).toHaveLength(20);
    expect(new Set(claimed).size).toBe(20);
    expect([...first, ...second].every((claim) => claim.attempts === 1 && claim.nextAttemptAt.getTime() === later(5000).getTime())).toBe(true);
    // Nothing is due again before the next attempt; then everything is, with its count kept.
    expect(await pending.claimDue(later(4999), 100, () => later(20_000))).toEqual([]);
    const again = await pending.claimDue(later(5000), 100, (claim) => later(5000 + claim.attempts * 1000));
    expect(again.map((claim) => claim.attempts)).toEqual(Array(20).fill(2));
    expect((await pending.rowsOf(keys[0]!))[0]!.nextAttemptAt).toEqual(later(7000));
  });

  it('claims one channel when asked, leasing each row by its place among the claimed', async () => {
    const [a, b] = [newPrefixedId('key'), newPrefixedId('key')];
    await pending.storeIssued([row(a), row(a, { channel: 'webhook' }), row(b, { channel: 'webhook', nextAttemptAt: later(1) })]);
    const claimed = await pending.claimDue(later(1), 10, (_claim, index) => later(1000 * (index + 1)), 'webhook');
    expect(claimed.map((claim) => [claim.keyId, claim.channel, claim.nextAttemptAt.getTime() - T0.getTime()])).toEqual([
      [a, 'webhook', 1000],
      [b, 'webhook', 2000],
    ]);
    expect((await pending.claimDue(later(1), 10, () => later(5000))).map((claim) => [claim.keyId, claim.channel])).toEqual([[a, 'nats']]);
  });

  it('starts and finishes a send only while its claim holds: not once another claimer took the row after the lease', async () => {
    const keyId = newPrefixedId('key');
    await pending.storeIssued([row(keyId)]);
    const [first] = await pending.claimDue(T0, 10, () => later(1000));
    // The first claimer stalls past its lease; another claims the row again.
    const [second] = await pending.claimDue(later(1000), 10, () => later(2000));
    expect(second).toMatchObject({ keyId, attempts: 2 });
    expect(await pending.startAttempt(first!, later(60_000))).toBeUndefined();
    await pending.finishAttempt(first!, later(90_000), 'stale');
    const sending = await pending.startAttempt(second!, later(30_000));
    expect(sending).toMatchObject({ keyId, attempts: 2, nextAttemptAt: later(30_000) });
    expect((await pending.rowsOf(keyId))[0]).toMatchObject({ attempts: 2, nextAttemptAt: later(30_000), lastError: null });
    // Leased again: the claim it came from no longer holds, the lease does.
    expect(await pending.startAttempt(second!, later(40_000))).toBeUndefined();
    await pending.finishAttempt(sending!, later(50_000), 'HTTP 503');
    expect((await pending.rowsOf(keyId))[0]).toMatchObject({ attempts: 2, nextAttemptAt: later(50_000), lastError: 'HTTP 503' });
    // Gone (acknowledged meanwhile): nothing to start.
    await pending.remove(keyId);
    expect(await pending.startAttempt({ ...sending!, nextAttemptAt: later(50_000) }, later(60_000))).toBeUndefined();
  });

  it('never claims an expired row for sending, and leases it to one expirer', async () => {
    const keyId = newPrefixedId('key');
    await pending.storeIssued([row(keyId, { expiresAt: later(1000) })]);
    expect(await pending.claimDue(later(1000), 10, () => later(2000))).toEqual([]);
    const [expired] = await pending.claimExpired(later(1000), 10, later(61_000));
    expect(expired?.keyId).toBe(keyId);
    expect(await pending.claimExpired(later(2000), 10, later(62_000))).toEqual([]);
    expect((await pending.claimExpired(later(61_000), 10, later(121_000))).map((claim) => claim.keyId)).toEqual([keyId]);
  });

  it('replaces the rows of an interrupted attempt only while the key is not issued', async () => {
    const keyId = newPrefixedId('key');
    const streamId = `key-${keyId}`;
    await pending.storeBeforeIssue([row(keyId, { digest: '1'.repeat(64) })], streamId);
    await pending.storeBeforeIssue([row(keyId, { digest: '2'.repeat(64) })], streamId);
    expect((await pending.rowsOf(keyId)).map((stored) => stored.digest)).toEqual(['2'.repeat(64)]);
    await ctx.store.append(streamId, 0, [{ type: 'KeyIssued', data: testKeyIssuedData(keyId), metadata: { actor: 'test', correlationId: 'c', causationId: 'c' } }]);
    // Issued now: a late attempt of another material cannot take the winner's place…
    await pending.storeBeforeIssue([row(keyId, { digest: '3'.repeat(64) })], streamId);
    expect((await pending.rowsOf(keyId)).map((stored) => stored.digest)).toEqual(['2'.repeat(64)]);
    // …only the winner, storing what it issued.
    await pending.storeIssued([row(keyId, { digest: '4'.repeat(64), attempts: 1 }), row(keyId, { channel: 'webhook', digest: '4'.repeat(64) })]);
    expect((await pending.rowsOf(keyId)).map((stored) => [stored.channel, stored.digest, stored.attempts])).toEqual([
      ['nats', '4'.repeat(64), 1],
      ['webhook', '4'.repeat(64), 0],
    ]);
    expect(await pending.remove(keyId, '3'.repeat(64))).toBe(0);
    expect(await pending.countKeys()).toBe(1);
    expect(await pending.remove(keyId)).toBe(2);
    expect(await pending.countKeys()).toBe(0);
    // Nor is a late attempt's row inserted where the winner's are gone (acknowledged, say).
    await pending.storeBeforeIssue([row(keyId, { digest: '5'.repeat(64) })], streamId);
    expect(await pending.rowsOf(keyId)).toEqual([]);
  });

  it('stores nothing for a key whose delivery has ended, neither a new row nor over a row left behind', async () => {
    const metadata = { actor: 'test', correlationId: 'c', causationId: 'c' };
    const delivered = (keyId: string) => ({ keyId, tenant: 'acme', owner: 'svc', publicKey: `${'A'.repeat(43)}=`, at: new Date().toISOString() });
    const ended = (keyId: string) => ({ keyId, tenant: 'acme', owner: 'svc', attempts: 1, at: new Date().toISOString() });
    const [acknowledged, expired, open] = [newPrefixedId('key'), newPrefixedId('key'), newPrefixedId('key')];
    // A row its ender did not delete yet (a crash between the record and the delete).
    await pending.storeIssued([row(expired, { attempts: 3 })]);
    await ctx.store.append(`delivery-${acknowledged}`, 0, [
      { type: 'KeyDelivered', data: delivered(acknowledged), metadata },
      { type: 'KeyDeliveryAcknowledged', data: { ...ended(acknowledged), channel: 'nats' }, metadata },
    ]);
    await ctx.store.append(`delivery-${expired}`, 0, [{ type: 'KeyDeliveryExpired', data: ended(expired), metadata }]);
    await ctx.store.append(`delivery-${open}`, 0, [{ type: 'KeyDelivered', data: delivered(open), metadata }]);

    expect(await pending.storeIssued([row(acknowledged), row(acknowledged, { channel: 'webhook' })])).toBe(0);
    expect(await pending.rowsOf(acknowledged)).toEqual([]);
    expect(await pending.storeIssued([row(expired, { attempts: 1 })])).toBe(0);
    expect((await pending.rowsOf(expired)).map((stored) => stored.attempts)).toEqual([3]);
    expect(await pending.storeIssued([row(open), row(open, { channel: 'webhook' })])).toBe(2);
    expect(await pending.rowsOf(open)).toHaveLength(2);
  });

  it('keeps the last failure of a channel for operators', async () => {
    const keyId = newPrefixedId('key');
    await pending.storeIssued([row(keyId)]);
    await pending.recordFailure(keyId, 'nats', 'x'.repeat(1000));
    expect((await pending.rowsOf(keyId))[0]!.lastError).toHaveLength(500);
  });
});
