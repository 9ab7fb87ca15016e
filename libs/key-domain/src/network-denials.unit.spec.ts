import type { SourceNetworkDeniedData, VerifyResult } from '@keyledger/contracts';
import { formatNewKey } from './key-format.js';
import type { KeyRecord } from './key-record.js';
import { NetworkDenialTable, canonicalNetwork, enumerationDenial, isTooWideForTenant } from './network-denials.js';
import type { KeyState, VerifyCharge } from './verify-decision.js';
import { decideVerification } from './verify-decision.js';

const now = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const presented = formatNewKey('kl', 'live', (size) => new Uint8Array(size).fill(7));
const unknown = formatNewKey('kl', 'live', (size) => new Uint8Array(size).fill(9));
const acmeKey = {
  keyId: 'key_x',
  tenant: 'acme',
  owner: 'svc',
  environment: 'live',
  scopes: ['orders:read'],
  ipAllowlist: [],
  ipRanges: [],
  metadata: {},
  rateLimits: [],
  status: 'active',
  version: 1,
} as unknown as KeyRecord;

function denied(network: string, tenant: string, until = now + HOUR): { type: 'SourceNetworkDenied'; data: SourceNetworkDeniedData } {
  return {
    type: 'SourceNetworkDenied',
    data: { network, tenant, until: new Date(until).toISOString(), reason: 'operator', deniedBy: 'admin-key:key_a', at: new Date(now).toISOString() },
  };
}

function keysWith(table: NetworkDenialTable, key: KeyRecord | undefined = acmeKey): KeyState {
  return {
    isFailingClosed: () => false,
    find: (plaintext) => (plaintext === presented ? key : undefined),
    isDenied: (ip, tenant, at) => table.denies(ip, tenant, at),
  };
}

function verify(keys: KeyState, key: unknown, ip: string | undefined, tenant?: string, at = now): VerifyResult {
  const charge: VerifyCharge = { take: false, credits: 0 };
  return decideVerification(keys, key, { ip, tenant }, 1, undefined, at, charge);
}

describe('source network denials', () => {
  it('names a network by its canonical CIDR, host bits cleared, and refuses what is not one', () => {
    expect(canonicalNetwork('203.0.113.77/24')).toBe('203.0.113.0/24');
    expect(canonicalNetwork('203.0.113.77')).toBe('203.0.113.77/32');
    expect(canonicalNetwork('2001:db8:1:2::5/48')).toBe('2001:db8:1::/48');
    expect(canonicalNetwork('::ffff:10.1.2.3/104')).toBe('10.0.0.0/8');
    for (const text of ['', 'example.com', '10.0.0.0/33', '10.0.0.0/8; drop table', '1.2.3.4/-1']) expect(canonicalNetwork(text)).toBeUndefined();
  });

  it('leaves networks wider than a /16 of IPv4 or a /32 of IPv6 to the root', () => {
    expect(['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/15', '::/0', '2001:db8::/31'].filter(isTooWideForTenant)).toHaveLength(5);
    expect(['10.1.0.0/16', '203.0.113.0/24', '198.51.100.7/32', '2001:db8::/32', '2001:db8::/48'].filter(isTooWideForTenant)).toEqual([]);
  });

  it('refuses every call from a network denied for every tenant, whatever is presented, until the denial ends', () => {
    const table = new NetworkDenialTable();
    table.apply(denied('203.0.113.0/24', '*'));
    const keys = keysWith(table);
    for (const key of [presented, unknown, 'not a key', 42]) expect(verify(keys, key, '203.0.113.9').code).toBe('DENIED');
    expect(verify(keys, presented, '::ffff:203.0.113.9').code).toBe('DENIED');
    expect(verify(keys, presented, '203.0.114.9').code).toBe('VALID');
    expect(verify(keys, presented, undefined).code).toBe('VALID');
    expect(verify(keys, presented, '203.0.113.9', undefined, now + HOUR).code).toBe('VALID');
  });

  it('refuses a tenant denial’s network for that tenant’s keys and for unknown keys, not for another tenant’s', () => {
    const table = new NetworkDenialTable();
    table.apply(denied('198.51.100.0/24', 'acme'));
    const denyingAcme = keysWith(table);
    expect(verify(denyingAcme, presented, '198.51.100.4')).toEqual({ valid: false, code: 'DENIED' });
    // The very answer a tenant's key gets: nothing tells the enumerator which strings are keys.
    expect(verify(denyingAcme, unknown, '198.51.100.4')).toEqual({ valid: false, code: 'DENIED' });
    expect(verify(denyingAcme, 'junk', '198.51.100.4').code).toBe('DENIED');
    const globexKeys = keysWith(table, { ...acmeKey, tenant: 'globex' });
    expect(verify(globexKeys, presented, '198.51.100.4').code).toBe('VALID');
    // A caller that expects another tenant is answered as that tenant's.
    expect(verify(denyingAcme, unknown, '198.51.100.4', 'globex').code).toBe('NOT_FOUND');
    expect(verify(denyingAcme, presented, '198.51.100.4', 'acme').code).toBe('DENIED');
  });

  it('lifts a denial on SourceNetworkAllowed, and a later denial replaces an earlier one', () => {
    const table = new NetworkDenialTable();
    table.apply(denied('198.51.100.0/24', 'acme'));
    table.apply({
      type: 'SourceNetworkAllowed',
      data: { network: '198.51.100.0/24', tenant: 'acme', allowedBy: 'admin-key:key_a', at: new Date(now).toISOString() },
    });
    expect(table.denies('198.51.100.4', 'acme', now)).toBe(false);
    table.apply(denied('198.51.100.0/24', 'acme', now + HOUR));
    table.apply(denied('198.51.100.0/24', 'acme', now + 60_000));
    expect(table.denies('198.51.100.4', 'acme', now + 120_000)).toBe(false);
    expect(table.list()).toHaveLength(1);
  });

  it('forgets ended denials only by the time it is given, and restores what it listed', () => {
    const table = new NetworkDenialTable();
    table.apply(denied('198.51.100.0/24', 'acme', now + 1000));
    table.apply(denied('2001:db8:1::/48', '*', now + HOUR));
    table.forgetEnded(now);
    expect(table.size).toBe(2);
    table.forgetEnded(now + 1000);
    expect(table.list().map((denial) => denial.network)).toEqual(['2001:db8:1::/48']);
    const restored = new NetworkDenialTable();
    restored.restore(table.list());
    expect(restored.denies('2001:db8:1:ffff::1', 'globex', now)).toBe(true);
  });

  it('denies an enumeration’s network for its tenant only when the tenant’s policy says deny', () => {
    const finding = {
      findingId: '0190a3c4-0000-7000-8000-000000000001',
      network: '203.0.113.0/24',
      tenant: 'acme',
      severity: 'high',
      detail: '60 unknown keys',
    } as const;
    expect(enumerationDenial(finding, { onEnumeration: 'notify', denyForMs: HOUR }, 'system:anomaly-detector', now)).toBeUndefined();
    // A few keys guessed slowly is told, not acted on: the network may be a NAT of healthy callers.
    expect(enumerationDenial({ ...finding, severity: 'medium' }, { onEnumeration: 'deny', denyForMs: HOUR }, 'system:anomaly-detector', now)).toBeUndefined();
    expect(enumerationDenial({ ...finding, tenant: undefined }, { onEnumeration: 'deny', denyForMs: HOUR }, 'system:anomaly-detector', now)).toBeUndefined();
    expect(enumerationDenial(finding, { onEnumeration: 'deny', denyForMs: HOUR }, 'system:anomaly-detector', now)).toEqual({
      network: '203.0.113.0/24',
      tenant: 'acme',
      until: new Date(now + HOUR).toISOString(),
      reason: 'enumeration',
      findingId: finding.findingId,
      detail: '60 unknown keys',
      deniedBy: 'system:anomaly-detector',
      at: new Date(now).toISOString(),
    });
  });
});
