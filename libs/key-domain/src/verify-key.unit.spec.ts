import type { KeyRecord } from './key-record.js';
import { parseCidr } from './ip-allowlist.js';
import { verificationCode } from './verify-key.js';

const now = Date.parse('2026-01-01T00:00:00Z');
const record: KeyRecord = {
  keyId: 'key_x',
  tenant: 'acme',
  owner: 'svc',
  name: undefined,
  environment: 'live',
  prefix: 'kl',
  digest: { algorithm: 'hmac-sha256', pepperVersion: 1, digest: 'a'.repeat(64) },
  hint: 'kl_live_…abcd',
  scopes: ['orders:*'],
  ipAllowlist: [],
  ipRanges: [],
  expiresAt: undefined,
  metadata: {},
  rateLimits: [],
  credits: undefined,
  rotatedFrom: undefined,
  rotation: undefined,
  status: 'active',
  version: 1,
};

describe('verification code', () => {
  it('is VALID for an active key with granted scopes', () => {
    expect(verificationCode(record, { scopes: ['orders:read'], tenant: 'acme', environment: 'live' }, now)).toBe('VALID');
  });

  it('is NOT_FOUND for an unknown key and for a key of another tenant', () => {
    expect(verificationCode(undefined, {}, now)).toBe('NOT_FOUND');
    expect(verificationCode(record, { tenant: 'other' }, now)).toBe('NOT_FOUND');
  });

  it('reports revoked before expired before suspended', () => {
    const expired = { ...record, expiresAt: now - 1 };
    expect(verificationCode({ ...expired, status: 'revoked' }, {}, now)).toBe('REVOKED');
    expect(verificationCode({ ...expired, status: 'suspended' }, {}, now)).toBe('EXPIRED');
    expect(verificationCode({ ...record, status: 'suspended' }, {}, now)).toBe('DISABLED');
    expect(verificationCode({ ...record, expiresAt: now }, {}, now)).toBe('EXPIRED');
  });

  it('is FORBIDDEN for the wrong environment or an address outside the allowlist', () => {
    const allowlisted = { ...record, ipAllowlist: ['10.0.0.0/8'], ipRanges: [parseCidr('10.0.0.0/8')!] };
    expect(verificationCode(record, { environment: 'test' }, now)).toBe('FORBIDDEN');
    expect(verificationCode(allowlisted, { ip: '10.1.2.3' }, now)).toBe('VALID');
    expect(verificationCode(allowlisted, { ip: '::ffff:10.1.2.3' }, now)).toBe('VALID');
    expect(verificationCode(allowlisted, { ip: '11.1.2.3' }, now)).toBe('FORBIDDEN');
    expect(verificationCode(allowlisted, {}, now)).toBe('FORBIDDEN');
    expect(verificationCode(allowlisted, { ip: 'not an ip' }, now)).toBe('FORBIDDEN');
  });

  it('is INSUFFICIENT_PERMISSIONS for a scope not granted, or not a scope at all', () => {
    expect(verificationCode(record, { scopes: ['users:read'] }, now)).toBe('INSUFFICIENT_PERMISSIONS');
    expect(verificationCode(record, { scopes: ['orders:*'] }, now)).toBe('INSUFFICIENT_PERMISSIONS');
  });
});
