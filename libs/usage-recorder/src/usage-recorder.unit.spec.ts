import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { KeyUsed, VerifyResult } from '@keyledger/contracts';
import { keyUsedSchema } from '@keyledger/contracts';
import { KeyFingerprints, KeyHasher } from '@keyledger/key-secrets';
import { UsageRecorder } from './usage-recorder.js';

const peppers = [{ version: 1, secret: randomBytes(32) }];
const hasher = new KeyHasher(peppers);

function recorder(): { records: KeyUsed[]; usage: UsageRecorder } {
  const records: KeyUsed[] = [];
  return { records, usage: new UsageRecorder({ add: (record) => records.push(record) }, new KeyFingerprints(peppers)) };
}

const found: VerifyResult = { valid: true, code: 'VALID', keyId: 'key_01jd8x0000000000000000000a', tenant: 'acme', owner: 'billing', scopes: ['orders:read'] };

/** True when the JSON holds the key or any 8 consecutive characters of its secret body. */
function leaks(json: string, key: string): boolean {
  const body = key.slice(key.lastIndexOf('_') + 1);
  for (let i = 0; i + 8 <= body.length; i += 1) if (json.includes(body.slice(i, i + 8))) return true;
  return json.includes(key);
}

describe('usage recorder', () => {
  it('never records the presented key, whatever the outcome', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<VerifyResult>(found, { valid: false, code: 'NOT_FOUND' }, { valid: false, code: 'MALFORMED' }, { valid: false, code: 'UNAVAILABLE' }),
        (result) => {
          const { records, usage } = recorder();
          const key = hasher.newKey('kl', 'live').plaintext;
          usage.record(key, { scopes: ['orders:read'], ip: '10.0.0.1' }, result, 'http', 1);
          usage.record(`${key}x`, {}, result, 'nats', 2);
          usage.record(key.slice(0, -1), {}, result, 'grpc', 3);
          const json = JSON.stringify(records);
          expect(leaks(json, key)).toBe(false);
          records.forEach((r) => keyUsedSchema.parse(JSON.parse(JSON.stringify(r))));
        },
      ),
    );
  });

  it('names a honeytoken by id, with its tenant and the marker, though its answer names no key', () => {
    const { records, usage } = recorder();
    const key = hasher.newKey('kl', 'live').plaintext;
    const honeytoken = { keyId: 'key_01jd8x0000000000000000000b', tenant: 'acme' };
    usage.record(key, { tenant: 'other', scopes: ['orders:read'], ip: '10.0.0.1' }, { valid: false, code: 'NOT_FOUND' }, 'http', 1000, 0, honeytoken);
    expect(records).toEqual([
      {
        keyId: honeytoken.keyId,
        fingerprint: undefined,
        tenant: 'acme',
        honeytoken: true,
        at: 1000,
        ip: '10.0.0.1',
        scopes: ['orders:read'],
        code: 'NOT_FOUND',
        cost: 0,
        transport: 'http',
      },
    ]);
    expect(keyUsedSchema.parse(JSON.parse(JSON.stringify(records[0])))).toMatchObject({ keyId: honeytoken.keyId, honeytoken: true });
    expect(leaks(JSON.stringify(records), key)).toBe(false);
  });

  it('names a found key by id and anything else by a fingerprint, or by nothing when no key came', () => {
    const { records, usage } = recorder();
    const key = hasher.newKey('kl', 'live').plaintext;
    usage.record(key, { scopes: ['orders:read'], ip: '10.0.0.1' }, found, 'http', 1000);
    usage.record(key, { tenant: 'acme' }, { valid: false, code: 'NOT_FOUND' }, 'nats', 1001);
    usage.record('not a key', { tenant: 'Not A Tenant!' }, { valid: false, code: 'MALFORMED' }, 'grpc', 1002);
    usage.record(undefined, {}, { valid: false, code: 'MALFORMED' }, 'http', 1003);
    expect(records[0]).toMatchObject({
      keyId: found.keyId,
      fingerprint: undefined,
      tenant: 'acme',
      at: 1000,
      ip: '10.0.0.1',
      scopes: ['orders:read'],
      code: 'VALID',
      cost: 0,
      transport: 'http',
    });
    expect(records[1]).toMatchObject({ keyId: undefined, tenant: 'acme', code: 'NOT_FOUND', transport: 'nats' });
    expect(records[1]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(records[2]).toMatchObject({ keyId: undefined, tenant: undefined, code: 'MALFORMED' });
    expect(records[2]!.fingerprint).not.toBe(records[1]!.fingerprint);
    expect(records[3]).toMatchObject({ keyId: undefined, fingerprint: undefined, code: 'MALFORMED' });
  });

  it('keeps what it records storable: bounded, without NUL', () => {
    const { records, usage } = recorder();
    usage.record(
      'x',
      { ip: `1.2.3.4\u0000${'9'.repeat(100)}`, scopes: Array.from({ length: 50 }, (_, i) => `s${i}\u0000${'a'.repeat(300)}`) },
      found,
      'nats',
      1,
    );
    const parsed = keyUsedSchema.parse(JSON.parse(JSON.stringify(records[0])));
    expect(parsed.ip).toHaveLength(64);
    expect(parsed.scopes).toHaveLength(32);
    expect(JSON.stringify(parsed)).not.toContain('\\u0000');
  });
});
