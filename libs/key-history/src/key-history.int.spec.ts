import { setTimeout as sleep } from 'node:timers/promises';
import type { Caller } from '@keyledger/admin-auth';
import type { AuditTrailEntry, EventType } from '@keyledger/contracts';
import { ROOT_TENANT, streamIdOf } from '@keyledger/contracts';
import type { TestContext } from '@keyledger/testing';
import { createTestContext, testKeyIssuedData, testMetadata } from '@keyledger/testing';
import { KeyHistory } from './key-history.js';

const KEY = 'key_000000000000000000000000h1';
const ROOT: Caller = { keyId: 'key_root', tenant: ROOT_TENANT, scopes: ['keyledger:*'] };

/** An instant halfway between two events' times. */
const between = (a: AuditTrailEntry, b: AuditTrailEntry): string => new Date((Date.parse(a.occurredAt) + Date.parse(b.occurredAt)) / 2).toISOString();
const justBefore = (a: AuditTrailEntry): string => new Date(Date.parse(a.occurredAt) - 1).toISOString();

describe('a key’s history from the store', () => {
  let ctx: TestContext;
  let history: KeyHistory;
  let trail: readonly AuditTrailEntry[];

  /** Each event its own append, a few ms apart, so that each has its own instant. */
  async function record(type: EventType, data: Record<string, unknown>, actor: string, keyId = KEY): Promise<void> {
    const stream = streamIdOf('key', keyId);
    await ctx.store.append(stream, await ctx.store.streamVersion(stream), [{ type, data, metadata: testMetadata({ actor }) }]);
    await sleep(20);
  }

  beforeAll(async () => {
    ctx = await createTestContext('key-history');
    history = new KeyHistory(ctx.store);
    await record('KeyIssued', testKeyIssuedData(KEY, 'acme', { scopes: ['orders:read'], ipAllowlist: ['10.0.0.0/8'] }), 'key_alice');
    await record('KeyUpdated', { keyId: KEY, scopes: ['orders:read', 'orders:write'] }, 'key_bob');
    await record('KeySuspended', { keyId: KEY, reason: 'audit' }, 'key_carol');
    await record('KeyResumed', { keyId: KEY }, 'key_carol');
    await record('KeyRevoked', { keyId: KEY, reason: 'retired' }, 'key_dave');
    ({ events: trail } = await history.trail({ keyId: KEY }, ROOT));
  });

  afterAll(async () => {
    await ctx.close();
  });

  it('lists every event of the key in order, with its actor', () => {
    expect(trail.map((entry) => [entry.version, entry.type, entry.actor])).toEqual([
      [1, 'KeyIssued', 'key_alice'],
      [2, 'KeyUpdated', 'key_bob'],
      [3, 'KeySuspended', 'key_carol'],
      [4, 'KeyResumed', 'key_carol'],
      [5, 'KeyRevoked', 'key_dave'],
    ]);
  });

  it('folds the key up to an instant: nothing before its issue, each state after', async () => {
    const [issued, updated, suspended, resumed, revoked] = trail as [AuditTrailEntry, AuditTrailEntry, AuditTrailEntry, AuditTrailEntry, AuditTrailEntry];
    expect(await history.at({ keyId: KEY, at: justBefore(issued) }, ROOT)).toMatchObject({ key: null, lastEvent: null });
    expect(await history.at({ keyId: KEY, at: between(issued, updated) }, ROOT)).toMatchObject({
      key: { status: 'active', scopes: ['orders:read'], version: 1 },
      lastEvent: { eventId: issued.eventId },
    });
    expect(await history.at({ keyId: KEY, at: between(suspended, resumed) }, ROOT)).toMatchObject({ key: { status: 'suspended', scopes: ['orders:read', 'orders:write'], version: 3 } });
    // The instant of an event itself includes it.
    expect(await history.at({ keyId: KEY, at: revoked.occurredAt }, ROOT)).toMatchObject({ key: { status: 'revoked', version: 5 } });
  });

  it('gives the verdict then with the event that decided it', async () => {
    const [issued, updated, suspended, resumed, revoked] = trail as [AuditTrailEntry, AuditTrailEntry, AuditTrailEntry, AuditTrailEntry, AuditTrailEntry];
    const check = (at: string, scopes: string[], ip = '10.1.2.3') => history.check({ keyId: KEY, at, scopes, ip }, ROOT);

    expect(await check(between(resumed, revoked), ['orders:write'])).toMatchObject({ valid: true, code: 'VALID', decidedBy: { eventId: resumed.eventId } });
    const after = await check(revoked.occurredAt, ['orders:write']);
    expect(after).toMatchObject({ valid: false, code: 'REVOKED', decidedBy: { eventId: revoked.eventId, actor: 'key_dave' } });
    expect(after.reason).toBe(`revoked at ${revoked.occurredAt} by event ${revoked.eventId} (KeyRevoked, position ${revoked.position}, by key_dave)`);
    expect(await check(between(suspended, resumed), ['orders:read'])).toMatchObject({ code: 'DISABLED', decidedBy: { eventId: suspended.eventId } });
    // The write scope was granted by the update: asked before it, the scopes decide.
    expect(await check(between(issued, updated), ['orders:write'])).toMatchObject({ code: 'INSUFFICIENT_PERMISSIONS', decidedBy: { eventId: issued.eventId } });
    expect(await check(between(updated, suspended), ['orders:write'])).toMatchObject({ code: 'VALID' });
    expect(await check(between(updated, suspended), ['orders:read'], '192.0.2.1')).toMatchObject({ code: 'FORBIDDEN', decidedBy: { eventId: issued.eventId } });
    expect(await check(justBefore(issued), [])).toMatchObject({ code: 'NOT_FOUND', decidedBy: null });
  });

  it('names the rotation that ended a rotated key’s life by its grace', async () => {
    const old = 'key_000000000000000000000000h2';
    await record('KeyIssued', testKeyIssuedData(old), 'key_alice', old);
    const graceEndsAt = new Date(Date.now() + 100).toISOString();
    await record('KeyRotated', { keyId: old, replacedBy: 'key_000000000000000000000000h3', graceEndsAt }, 'system:rotator', old);
    const [, rotated] = (await history.trail({ keyId: old }, ROOT)).events;
    const before = await history.check({ keyId: old, at: new Date(Date.parse(graceEndsAt) - 1).toISOString() }, ROOT);
    expect(before).toMatchObject({ code: 'VALID' });
    const after = await history.check({ keyId: old, at: graceEndsAt }, ROOT);
    expect(after).toMatchObject({ code: 'EXPIRED', decidedBy: { eventId: rotated!.eventId, type: 'KeyRotated', actor: 'system:rotator' } });
    expect(after.reason).toMatch(new RegExp(`^expired at ${graceEndsAt.replace(/[.]/g, '\\.')}, the expiry set by event ${rotated!.eventId}`));
  });

  it('gives a honeytoken’s verdict as its callers get it, NOT_FOUND, and tells the admin why', async () => {
    const honeytoken = 'key_000000000000000000000000h4';
    await record('KeyIssued', { ...testKeyIssuedData(honeytoken, 'acme', { scopes: ['orders:read'] }), honeytoken: true }, 'key_alice', honeytoken);
    const verdict = await history.check({ keyId: honeytoken, at: new Date().toISOString(), scopes: ['orders:read'] }, ROOT);
    expect(verdict).toMatchObject({ valid: false, code: 'NOT_FOUND', decidedBy: null, reason: expect.stringMatching(/^a honeytoken/) });
    expect(await history.at({ keyId: honeytoken, at: new Date().toISOString() }, ROOT)).toMatchObject({ key: { honeytoken: true } });
  });

  it('answers KEY_NOT_FOUND to an admin of another tenant, and PERMISSION_DENIED without the read scope', async () => {
    const globex: Caller = { keyId: 'key_globex', tenant: 'globex', scopes: ['keyledger:*'] };
    await expect(history.trail({ keyId: KEY }, globex)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await expect(history.check({ keyId: KEY, at: new Date().toISOString() }, globex)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    const writerOnly: Caller = { keyId: 'key_w', tenant: 'acme', scopes: ['orders:*'] };
    await expect(history.at({ keyId: KEY, at: new Date().toISOString() }, writerOnly)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(history.trail({ keyId: 'key_000000000000000000000000h9' }, ROOT)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
  });
});
