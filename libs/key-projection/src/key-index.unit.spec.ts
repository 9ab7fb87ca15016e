import fc from 'fast-check';
import type { EventEnvelope, KeyEvent } from '@keyledger/contracts';
import type { KeyRecord } from '@keyledger/key-domain';
import { evolveKey, takesQuotaSlot } from '@keyledger/key-domain';
import { newPrefixedId } from '@keyledger/ids';
import { KEY_RETENTION_MS } from '@keyledger/key-domain';
import { KEY_EVICTION_MARGIN_MS, KEY_SWEEP_INTERVAL_MS, KeyIndex, KeyVersionGapError } from './key-index.js';
import { decodeKeyIndex, encodeKeyIndex } from './key-index-snapshot.js';

const digest = { algorithm: 'hmac-sha256' as const, pepperVersion: 1, digest: 'ab'.repeat(32) };
const digestBytes = Buffer.from(digest.digest, 'hex');
type Applicable = Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'>;
const issued = (keyId: string, tenant: string, extra: Record<string, unknown> = {}): Applicable => ({
  type: 'KeyIssued',
  streamVersion: 1,
  data: {
    keyId,
    tenant,
    owner: 'svc',
    environment: 'live',
    prefix: 'kl',
    digest: keyId === 'key_a' ? digest : { ...digest, digest: Buffer.from(keyId.padEnd(32, '-')).toString('hex') },
    hint: 'kl_live_…abcd',
    scopes: ['a:*'],
    ipAllowlist: [],
    metadata: {},
    ...extra,
  },
});

/** A record as plain data, so records built in different ways compare equal. */
const FIELDS = [
  'keyId',
  'tenant',
  'owner',
  'name',
  'environment',
  'prefix',
  'digest',
  'hint',
  'scopes',
  'ipAllowlist',
  'ipRanges',
  'expiresAt',
  'metadata',
  'credits',
  'rotatedFrom',
  'rotation',
  'status',
  'version',
] as const;
const plain = (record: KeyRecord | undefined): unknown =>
  record &&
  Object.fromEntries(
    FIELDS.map((field) => [field, JSON.parse(JSON.stringify(record[field] ?? null, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))]),
  );

describe('KeyIndex', () => {
  it('finds keys by digest and by id, and lists a tenant', () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme'));
    index.apply(issued('key_b', 'globex'));
    expect(index.findByDigest(digestBytes, 1)?.keyId).toBe('key_a');
    expect(index.get('key_b')?.tenant).toBe('globex');
    expect(index.listByTenant('acme').map((k) => k.keyId)).toEqual(['key_a']);
    expect(index.listByTenant('nobody')).toEqual([]);
  });

  it('finds a digest only under the pepper version it was stored with', () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme'));
    expect(index.findByDigest(digestBytes, 2)).toBeUndefined();
  });

  it('applies each stream version once, so redelivery and replay change nothing', () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme'));
    const revoked = { type: 'KeyRevoked', streamVersion: 2, data: { keyId: 'key_a', reason: 'x' } };
    expect(index.apply(revoked)).toBe(true);
    expect(index.apply(revoked)).toBe(false);
    expect(index.apply(issued('key_a', 'acme'))).toBe(false);
    expect(index.findByDigest(digestBytes, 1)).toMatchObject({ status: 'revoked', version: 2 });
  });

  it('applies only the next version of a key: an old genuine KeyResumed replayed after a KeyRevoked changes nothing, and one past a gap is refused loudly', () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme'));
    const suspended = { type: 'KeySuspended', streamVersion: 2, data: { keyId: 'key_a' } };
    const resumed = { type: 'KeyResumed', streamVersion: 3, data: { keyId: 'key_a' } };
    expect(index.apply(suspended)).toBe(true);
    expect(index.apply(resumed)).toBe(true);
    expect(index.apply({ type: 'KeyRevoked', streamVersion: 4, data: { keyId: 'key_a', reason: 'x' } })).toBe(true);
    expect(index.apply(resumed)).toBe(false);
    // A version past the next means one was never applied: going on quietly would leave the key
    // wrong for good, so the caller hears of it (a live projection stops and fails closed).
    expect(() => index.apply({ ...resumed, streamVersion: 6 })).toThrow(KeyVersionGapError);
    expect(() => index.apply({ ...issued('key_b', 'acme'), streamVersion: 2 })).toThrow(/version 2 arrived, but version 1 was never applied/);
    expect(index.get('key_b')).toBeUndefined();
    expect(index.findByDigest(digestBytes, 1)).toMatchObject({ status: 'revoked', version: 4 });
  });

  it("applies an anomaly's acknowledgement as a version of its key, so the events after it are not a gap", () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme'));
    const findingId = '0190f4c6-0000-7000-8000-000000000001';
    const at = '2030-01-01T00:00:00.000Z';
    expect(
      index.apply({
        type: 'AnomalyDetected',
        streamVersion: 2,
        data: { keyId: 'key_a', tenant: 'acme', kind: 'honeytoken', severity: 'critical', detectedAt: at },
      }),
    ).toBe(true);
    expect(
      index.apply({
        type: 'AnomalyAcknowledged',
        streamVersion: 3,
        data: { keyId: 'key_a', tenant: 'acme', findingId, acknowledgedBy: 'admin-key:key_x', at },
      }),
    ).toBe(true);
    expect(index.apply({ type: 'KeySuspended', streamVersion: 4, data: { keyId: 'key_a' } })).toBe(true);
    expect(index.findByDigest(digestBytes, 1)).toMatchObject({ status: 'suspended', version: 4 });
  });

  it('reads each key as it now stands when keys share a line of the built-record cache', () => {
    // Slots 4,096 apart share a cache line: reading one must not answer for the other,
    // and a change to either must not leave a stale record behind.
    const index = new KeyIndex();
    const ids = Array.from({ length: 4097 * 2 }, (_, i) => `key_${String(i).padStart(5, '0')}`);
    for (const id of ids) index.apply(issued(id, 'acme'));
    const sharing = [ids[1]!, ids[4097]!, ids[8193]!];
    for (const id of sharing) expect(index.get(id)?.keyId).toBe(id);
    index.apply({ type: 'KeySuspended', streamVersion: 2, data: { keyId: ids[4097], reason: 'x' } });
    expect(sharing.map((id) => index.get(id)?.status)).toEqual(['active', 'suspended', 'active']);
    index.apply({ type: 'KeyRevoked', streamVersion: 2, data: { keyId: ids[1], reason: 'x' } });
    expect(sharing.map((id) => index.get(id)?.status)).toEqual(['revoked', 'suspended', 'active']);
    expect(index.findByDigest(Buffer.from(ids[8193]!.padEnd(32, '-')), 1)?.keyId).toBe(ids[8193]);
  });

  it('ignores events of other kinds', () => {
    expect(new KeyIndex().apply({ type: 'AdminKeyBootstrapped', streamVersion: 1, data: { keyId: 'key_a' } })).toBe(false);
  });

  it('subtracts flushed consumption from each key with a quota, keeps it through other events and restarts it with a new balance', () => {
    const index = new KeyIndex();
    const day = 1_767_225_600_000;
    index.apply(issued('key_a', 'acme', { credits: { remaining: 100, refill: { amount: 100, interval: 'daily' }, periodStart: day } }));
    index.apply(issued('key_b', 'acme'));
    const consumed = (entries: [string, number, number][]): Applicable => ({ type: 'CreditsConsumed', streamVersion: 1, data: { entries } });
    expect(
      index.apply(
        consumed([
          ['key_a', day, 30],
          ['key_b', day, 5],
          ['key_zz', day, 1],
        ]),
      ),
    ).toBe(true);
    expect(index.apply(consumed([['key_b', day, 5]]))).toBe(false);
    index.apply({ type: 'KeySuspended', streamVersion: 2, data: { keyId: 'key_a' } });
    index.apply({ type: 'KeyCreditsToppedUp', streamVersion: 3, data: { keyId: 'key_a', amount: 10, periodStart: day } });
    expect(index.get('key_a')?.credits).toMatchObject({ granted: 110, consumed: 30 });
    expect(index.get('key_b')?.credits).toBeUndefined();
    index.apply({ type: 'KeyUpdated', streamVersion: 4, data: { keyId: 'key_a', credits: { remaining: 7, periodStart: 0 } } });
    expect(index.get('key_a')?.credits).toEqual({ refill: undefined, periodStart: 0, granted: 7, consumed: 0 });
  });

  it('reads a rotated key as expired from its grace end, and keeps the link in both directions', () => {
    const index = new KeyIndex();
    index.apply(issued('key_a', 'acme', { expiresAt: '2030-01-01T00:00:00.000Z' }));
    index.apply({ type: 'KeyRotated', streamVersion: 2, data: { keyId: 'key_a', replacedBy: 'key_b', graceEndsAt: '2026-06-01T00:00:00.000Z' } });
    index.apply(issued('key_b', 'acme', { rotatedFrom: 'key_a' }));
    expect(index.findByDigest(digestBytes, 1)).toMatchObject({
      expiresAt: Date.parse('2026-06-01T00:00:00.000Z'),
      rotation: { replacedBy: 'key_b', emergency: false },
      status: 'active',
    });
    expect(index.get('key_b')).toMatchObject({ rotatedFrom: 'key_a', expiresAt: undefined });
    // A later expiry set by an update does not outlive the grace.
    index.apply({ type: 'KeyUpdated', streamVersion: 3, data: { keyId: 'key_a', expiresAt: null } });
    expect(index.get('key_a')?.expiresAt).toBe(Date.parse('2026-06-01T00:00:00.000Z'));
  });

  it('gives back exactly the record evolveKey folds, whatever the events', () => {
    const scope = fc.constantFrom('orders:read', 'orders:*', 'users:write', '*');
    const update = fc.record(
      {
        name: fc.string({ maxLength: 8 }),
        scopes: fc.array(scope, { maxLength: 3 }),
        ipAllowlist: fc.constantFrom(['10.0.0.0/8'], ['::1/128', '192.168.1.1/32'], []),
        metadata: fc.dictionary(fc.constantFrom('team', 'env'), fc.string({ maxLength: 5 })),
        expiresAt: fc.option(fc.constantFrom('2030-01-01T00:00:00.000Z', '2020-05-05T10:00:00.000Z')),
        rateLimits: fc.constantFrom(
          [],
          [{ limit: 100, windowMs: 1000 }],
          [
            { limit: 5, windowMs: 60_000 },
            { limit: 1000, windowMs: 86_400_000 },
          ],
        ),
      },
      { requiredKeys: [] },
    );
    const change = fc.oneof(
      update.map((data) => ({ type: 'KeyUpdated', data })),
      fc.constantFrom(
        { type: 'KeySuspended', data: {} },
        { type: 'KeyResumed', data: {} },
        { type: 'KeyRevoked', data: { reason: 'r' } },
        { type: 'KeyRotated', data: { replacedBy: 'key_q', graceEndsAt: '2027-01-01T00:00:00.000Z' } },
        { type: 'KeyRotated', data: { replacedBy: 'key_r', graceEndsAt: '2020-01-01T00:00:00.000Z', emergency: true } },
        {
          type: 'KeyRotated',
          data: { replacedBy: 'key_s', graceEndsAt: '2027-01-01T00:00:00.000Z', rotatedAt: '2026-12-31T00:00:00.000Z', quietPeriodMs: 60_000 },
        },
        {
          type: 'KeyGraceEnded',
          data: { endedAt: '2026-12-31T01:00:00.000Z', reason: 'quiet', quietPeriodMs: 60_000, usageIngestedUntil: '2026-12-31T01:00:00.000Z' },
        },
        {
          type: 'KeyGraceEnded',
          data: {
            endedAt: '2026-12-31T02:00:00.000Z',
            reason: 'quiet',
            quietPeriodMs: 60_000,
            lastUsedAt: '2026-12-31T00:30:00.000Z',
            usageIngestedUntil: '2026-12-31T02:00:00.000Z',
          },
        },
      ),
    );
    const hint = fc.constantFrom('kl_live_…abcd', 'kl_live_…Z9x0', 'something else', 'kl_live_…é☃ab');
    fc.assert(
      fc.property(hint, update, fc.array(change, { maxLength: 6 }), (hintText, first, changes) => {
        const index = new KeyIndex();
        const events = [
          issued('key_p', 'acme', {
            hint: hintText,
            ...first,
            expiresAt: first.expiresAt ?? undefined,
            ...(hintText === 'something else' ? { rotatedFrom: 'key_o' } : {}),
          }),
          ...changes.map((c, i) => ({ type: c.type, streamVersion: i + 2, data: { keyId: 'key_p', ...c.data } })),
        ];
        let expected: KeyRecord | undefined;
        for (const event of events) {
          index.apply(event);
          expected = evolveKey(expected, { type: event.type, data: event.data } as KeyEvent);
        }
        expect(plain(index.get('key_p'))).toEqual(plain(expected));
      }),
    );
  });

  it('counts each tenant’s live and unrevoked keys as the records say, after any events and from a snapshot', () => {
    const now = Date.parse('2026-06-01T00:00:00.000Z');
    const change = fc.constantFrom(
      { type: 'KeySuspended', data: {} },
      { type: 'KeyResumed', data: {} },
      { type: 'KeyRevoked', data: { reason: 'r' } },
      { type: 'KeyUpdated', data: { expiresAt: '2026-01-01T00:00:00.000Z' } },
      { type: 'KeyUpdated', data: { expiresAt: null } },
      { type: 'KeyRotated', data: { replacedBy: 'key_next', graceEndsAt: '2027-01-01T00:00:00.000Z' } },
      { type: 'KeyRotated', data: { replacedBy: 'key_next', graceEndsAt: '2026-05-01T00:00:00.000Z' } },
    );
    const key = fc.record({ tenant: fc.constantFrom('acme', 'globex', 'initech'), changes: fc.array(change, { maxLength: 4 }) });
    fc.assert(
      fc.property(fc.array(key, { maxLength: 12 }), (keys) => {
        const index = new KeyIndex();
        keys.forEach(({ tenant, changes }, n) => {
          const keyId = `key_${n}`;
          index.apply(issued(keyId, tenant));
          changes.forEach((c, i) => index.apply({ type: c.type, streamVersion: i + 2, data: { keyId, ...c.data } }));
        });
        const restored = new KeyIndex();
        restored.restore(index.toColumns());
        const records = [...index.all()];
        return ['acme', 'globex', 'initech', 'nobody'].every((tenant) => {
          const own = records.filter((record) => record.tenant === tenant);
          const live = own.filter((record) => takesQuotaSlot(record.status, record.expiresAt, now)).length;
          const unrevoked = own.filter((record) => record.status !== 'revoked').length;
          return [index, restored].every((counted) => counted.liveKeyCount(tenant, now) === live && counted.unrevokedKeyCount(tenant) === unrevoked);
        });
      }),
    );
  });
});

describe('KeyIndex forgetting dead keys', () => {
  const DAY = 86_400_000;
  const T0 = Date.parse('2026-03-01T00:00:00.000Z');
  const at = (event: Applicable, time: number): Applicable & { occurredAt: string } => ({ ...event, occurredAt: new Date(time).toISOString() });
  /** An event of another key, only to move the index's clock (events' time) on. */
  let ticks = 0;
  const tick = (index: KeyIndex, time: number): void => {
    ticks += 1;
    index.apply(at(issued(newPrefixedId('key', new Date(time)), `clock-${ticks}`), time));
  };
  const digestOf = (keyId: string): Uint8Array => Buffer.from(keyId.padEnd(32, '-'));

  it('forgets a revoked key once its retention has passed by the events’ time: found by neither digest nor id, and its later events change nothing', () => {
    const index = new KeyIndex();
    const revoked = newPrefixedId('key', new Date(T0));
    const kept = newPrefixedId('key', new Date(T0 + 1));
    index.apply(at(issued(revoked, 'acme', { name: 'old', metadata: { team: 'a' } }), T0));
    index.apply(at(issued(kept, 'acme', { name: 'kept', metadata: { team: 'b' }, ipAllowlist: ['10.0.0.0/8'] }), T0 + 1));
    const keptBefore = plain(index.get(kept));
    index.apply(at({ type: 'KeyRevoked', streamVersion: 2, data: { keyId: revoked, reason: 'retired' } }, T0 + DAY));
    tick(index, T0 + DAY + KEY_RETENTION_MS - 1);
    expect(index.findByDigest(digestOf(revoked), 1)).toMatchObject({ status: 'revoked' });
    tick(index, T0 + DAY + KEY_RETENTION_MS + KEY_EVICTION_MARGIN_MS + KEY_SWEEP_INTERVAL_MS);
    expect(index.get(revoked)).toBeUndefined();
    expect(index.findByDigest(digestOf(revoked), 1)).toBeUndefined();
    expect(index.listByTenant('acme').map((record) => record.keyId)).toEqual([kept]);
    // The keys that stay are whole, wherever the forgotten ones were.
    expect(plain(index.get(kept))).toEqual(keptBefore);
    expect(index.findByDigest(digestOf(kept), 1)?.keyId).toBe(kept);
    // A leak report of the forgotten key, long after: nothing to apply it to, and no reason to stop.
    expect(index.apply({ type: 'KeyLeakReported', streamVersion: 3, data: { keyId: revoked } })).toBe(false);
    expect(index.get(revoked)).toBeUndefined();
    // A key too young to have been forgotten still stops the index at a gap.
    const young = newPrefixedId('key', new Date(T0 + 40 * DAY));
    expect(() => index.apply({ type: 'KeySuspended', streamVersion: 2, data: { keyId: young } })).toThrow(KeyVersionGapError);
  });

  it('forgets an expired key after its retention, counting it out of its tenant, and keeps a live key without expiry for good', () => {
    const index = new KeyIndex();
    const expiring = newPrefixedId('key', new Date(T0));
    const forever = newPrefixedId('key', new Date(T0 + 1));
    index.apply(at(issued(expiring, 'acme', { expiresAt: new Date(T0 + DAY).toISOString() }), T0));
    index.apply(at(issued(forever, 'acme'), T0 + 1));
    expect(index.unrevokedKeyCount('acme')).toBe(2);
    tick(index, T0 + DAY + KEY_RETENTION_MS + KEY_EVICTION_MARGIN_MS + KEY_SWEEP_INTERVAL_MS);
    expect(index.get(expiring)).toBeUndefined();
    expect(index.unrevokedKeyCount('acme')).toBe(1);
    expect(index.liveKeyCount('acme', T0 + 100 * DAY)).toBe(1);
    tick(index, T0 + 400 * DAY);
    expect(index.get(forever)?.status).toBe('active');
  });

  it('gives the same index from the same events, applied at once or across a snapshot', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gapDays: fc.integer({ min: 0, max: 20 }), action: fc.constantFrom('issue', 'issue-expiring', 'revoke') }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.nat(),
        (steps, cut) => {
          const events: (Applicable & { occurredAt: string })[] = [];
          const ids: string[] = [];
          let time = T0;
          for (const step of steps) {
            time += step.gapDays * DAY + 1;
            if (step.action === 'revoke' && ids.length > 0) {
              const keyId = ids.shift()!;
              events.push(at({ type: 'KeyRevoked', streamVersion: 2, data: { keyId, reason: 'r' } }, time));
            } else {
              const keyId = newPrefixedId('key', new Date(time));
              ids.push(keyId);
              events.push(at(issued(keyId, 'acme', step.action === 'issue-expiring' ? { expiresAt: new Date(time + 3 * DAY).toISOString() } : {}), time));
            }
          }
          const whole = new KeyIndex();
          for (const event of events) whole.apply(event);
          const split = cut % (events.length + 1);
          const first = new KeyIndex();
          for (const event of events.slice(0, split)) first.apply(event);
          const restored = new KeyIndex();
          decodeKeyIndex(encodeKeyIndex(first), restored);
          for (const event of events.slice(split)) restored.apply(event);
          return encodeKeyIndex(restored).equals(encodeKeyIndex(whole));
        },
      ),
    );
  });
});
