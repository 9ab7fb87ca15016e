import { randomBytes } from 'node:crypto';
import type { EventEnvelope } from '@keyledger/contracts';
import type { KeyRecord } from '@keyledger/key-domain';
import { KeyIndex } from './key-index.js';
import { SnapshotFormatError, decodeKeyIndex, encodeKeyIndex } from './key-index-snapshot.js';

type Applicable = Pick<EventEnvelope, 'type' | 'data' | 'streamVersion'>;
const issued = (n: number, extra: Record<string, unknown> = {}): Applicable => ({
  type: 'KeyIssued',
  streamVersion: 1,
  data: {
    keyId: `key_${String(n).padStart(4, '0')}`,
    tenant: `tenant-${n % 3}`,
    owner: `svc-${n % 5}`,
    environment: n % 2 ? 'live' : 'test',
    prefix: 'kl',
    digest: { algorithm: 'hmac-sha256', pepperVersion: 1 + (n % 2), digest: randomBytes(32).toString('hex') },
    hint: `kl_${n % 2 ? 'live' : 'test'}_…${String(n).padStart(4, 'x')}`,
    scopes: n % 4 ? ['orders:read', 'users:*'] : [],
    ipAllowlist: [],
    metadata: {},
    ...extra,
  },
});

const graceEnded = (keyId: string) => ({
  keyId,
  endedAt: '2029-12-31T01:00:00.000Z',
  reason: 'quiet',
  quietPeriodMs: 60_000,
  lastUsedAt: '2029-12-31T00:10:00.000Z',
  usageIngestedUntil: '2029-12-31T00:59:59.000Z',
});

const view = (record: KeyRecord | undefined): unknown =>
  record && { ...record, digest: record.digest, ipRanges: record.ipRanges.map(([address, bits]) => `${address.toString()}/${bits}`) };

function sampleIndex(): KeyIndex {
  const index = new KeyIndex();
  for (let n = 0; n < 3000; n += 1) index.apply(issued(n));
  index.apply(
    issued(5000, { name: 'named', ipAllowlist: ['10.0.0.0/8', '2001:db8::/32'], metadata: { team: 'payments' }, expiresAt: '2031-02-03T04:05:06.000Z' }),
  );
  index.apply(issued(5001, { hint: 'a hint of another shape ☃' }));
  index.apply(issued(5002, { rateLimits: [{ limit: 100, windowMs: 1000 }] }));
  index.apply(issued(5003, { credits: { remaining: 50, refill: { amount: 50, interval: 'daily' }, periodStart: 1_767_225_600_000 } }));
  index.apply({ type: 'CreditsConsumed', streamVersion: 1, data: { entries: [['key_5003', 1_767_225_600_000, 12]] } });
  index.apply({ type: 'KeyRevoked', streamVersion: 2, data: { keyId: 'key_0007', reason: 'leaked' } });
  index.apply({ type: 'KeySuspended', streamVersion: 2, data: { keyId: 'key_0008' } });
  index.apply({ type: 'KeyRotated', streamVersion: 2, data: { keyId: 'key_0009', replacedBy: 'key_5004', graceEndsAt: '2030-01-01T00:00:00.000Z' } });
  index.apply(issued(5004, { rotatedFrom: 'key_0009' }));
  index.apply(issued(5006, { honeytoken: true }));
  // Rotations with a quiet period, one of whose grace ended early: kept in the extras.
  for (const keyId of ['key_0010', 'key_0011'])
    index.apply({
      type: 'KeyRotated',
      streamVersion: 2,
      data: { keyId, replacedBy: 'key_5005', graceEndsAt: '2030-01-01T00:00:00.000Z', rotatedAt: '2029-12-31T00:00:00.000Z', quietPeriodMs: 60_000 },
    });
  index.apply({ type: 'KeyGraceEnded', streamVersion: 3, data: graceEnded('key_0010') });
  // A key reported leaked, twice: the first report is what the key remembers.
  for (const [streamVersion, at] of [
    [2, '2029-06-01T00:00:00.000Z'],
    [3, '2029-07-01T00:00:00.000Z'],
  ] as const)
    index.apply({
      type: 'KeyLeakReported',
      streamVersion,
      data: { keyId: 'key_0012', tenant: 'tenant-0', source: { file: 'app.env' }, evidence: 'plaintext', reportedBy: 'admin-key:key_x', at },
    });
  return index;
}

describe('key index snapshot', () => {
  it('restores every key exactly, findable by id, digest and tenant', () => {
    const original = sampleIndex();
    const restored = new KeyIndex();
    decodeKeyIndex(encodeKeyIndex(original), restored);
    expect(restored.size).toBe(original.size);
    const keyIds = [
      'key_0000',
      'key_0007',
      'key_0008',
      'key_0009',
      'key_0010',
      'key_0011',
      'key_0012',
      'key_2999',
      'key_5000',
      'key_5001',
      'key_5002',
      'key_5003',
      'key_5004',
      'key_5006',
    ];
    for (const keyId of keyIds) {
      const record = original.get(keyId)!;
      expect(view(restored.get(keyId))).toEqual(view(record));
      expect(restored.findByDigest(Buffer.from(record.digest.digest, 'hex'), record.digest.pepperVersion)?.keyId).toBe(keyId);
    }
    expect(restored.listByTenant('tenant-1').map((k) => k.keyId)).toEqual(original.listByTenant('tenant-1').map((k) => k.keyId));
    expect(restored.get('key_0012')?.leakReportedAt).toBe(Date.parse('2029-06-01T00:00:00.000Z'));
    expect(restored.get('key_0013')?.leakReportedAt).toBeUndefined();
    // A honeytoken restored as a plain key would answer VALID.
    expect(restored.get('key_5006')?.honeytoken).toBe(true);
    expect(restored.get('key_5004')?.honeytoken).toBeUndefined();
  });

  it('keeps folding events after a restore as the original would', () => {
    const original = sampleIndex();
    const restored = new KeyIndex();
    decodeKeyIndex(encodeKeyIndex(original), restored);
    const next: Applicable[] = [
      issued(6000),
      { type: 'KeyResumed', streamVersion: 3, data: { keyId: 'key_0008' } },
      { type: 'KeyRevoked', streamVersion: 2, data: { keyId: 'key_0007', reason: 'again' } },
      { type: 'KeyGraceEnded', streamVersion: 3, data: graceEnded('key_0011') },
      { type: 'KeyUpdated', streamVersion: 4, data: { keyId: 'key_0010', expiresAt: null } },
    ];
    for (const event of next) expect(restored.apply(event)).toBe(original.apply(event));
    expect(restored.get('key_0011')?.expiresAt).toBe(Date.parse('2029-12-31T01:00:00.000Z'));
    expect(restored.get('key_0010')?.expiresAt).toBe(Date.parse('2029-12-31T01:00:00.000Z'));
    for (const keyId of ['key_6000', 'key_0008', 'key_0007', 'key_0010', 'key_0011']) expect(view(restored.get(keyId))).toEqual(view(original.get(keyId)));
  });

  it('restores an empty index', () => {
    const restored = new KeyIndex();
    decodeKeyIndex(encodeKeyIndex(new KeyIndex()), restored);
    expect(restored.size).toBe(0);
  });

  it('refuses bytes that are not a whole snapshot, and a non-empty target', () => {
    const bytes = encodeKeyIndex(sampleIndex());
    expect(() => decodeKeyIndex(bytes.subarray(0, bytes.length - 1), new KeyIndex())).toThrow(SnapshotFormatError);
    expect(() => decodeKeyIndex(Buffer.concat([bytes, Buffer.alloc(1)]), new KeyIndex())).toThrow(SnapshotFormatError);
    expect(() => decodeKeyIndex(Buffer.from('not a snapshot'), new KeyIndex())).toThrow(SnapshotFormatError);
    expect(() => decodeKeyIndex(bytes, sampleIndex())).toThrow(/empty key index/);
  });
});
