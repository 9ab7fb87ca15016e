import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { canonicalIp, formatCidr, ipAllowed, parseCidr, parseIp } from './ip-allowlist.js';

/** Reference: addresses as BigInt, prefix match by shifting. Independent of ipaddr.js. */
function v4ToBig(octets: number[]): bigint {
  return octets.reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
}
function v6ToBig(groups: number[]): bigint {
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
}
function refMatch(address: bigint, network: bigint, bits: number, width: number): boolean {
  const shift = BigInt(width - bits);
  return address >> shift === network >> shift;
}

const octets = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
const v6Text = (g: number[]): string => g.map((x) => x.toString(16)).join(':');

describe('IP allowlists', () => {
  it('agrees with a reference on random IPv4 addresses and ranges', () => {
    fc.assert(
      fc.property(octets, octets, fc.integer({ min: 0, max: 32 }), (address, network, bits) => {
        const range = parseCidr(`${network.join('.')}/${bits}`)!;
        const ip = parseIp(address.join('.'))!;
        return ipAllowed([range], ip) === refMatch(v4ToBig(address), v4ToBig(network), bits, 32);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with a reference on random IPv6 addresses and ranges', () => {
    fc.assert(
      fc.property(groups, groups, fc.integer({ min: 0, max: 128 }), (address, network, bits) => {
        // Mapped addresses are normalised to IPv4; the next property covers them.
        fc.pre(!(address.slice(0, 6).every((g, i) => g === (i === 5 ? 0xffff : 0)) || network.slice(0, 6).every((g, i) => g === (i === 5 ? 0xffff : 0))));
        const range = parseCidr(`${v6Text(network)}/${bits}`)!;
        const ip = parseIp(v6Text(address))!;
        return ipAllowed([range], ip) === refMatch(v6ToBig(address), v6ToBig(network), bits, 128);
      }),
      { numRuns: 3000 },
    );
  });

  it('matches an IPv4-mapped IPv6 caller against IPv4 rules like the IPv4 address itself', () => {
    fc.assert(
      fc.property(octets, octets, fc.integer({ min: 0, max: 32 }), (address, network, bits) => {
        const range = parseCidr(`${network.join('.')}/${bits}`)!;
        const mapped = parseIp(`::ffff:${address.join('.')}`)!;
        return ipAllowed([range], mapped) === refMatch(v4ToBig(address), v4ToBig(network), bits, 32);
      }),
      { numRuns: 2000 },
    );
  });

  it("reads dotted IPv4 text exactly as ipaddr.js's general parser does, leading zeros, large octets and all", () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('00', '010', '08', '0x1f', '255', '256', ''));
    fc.assert(
      fc.property(fc.array(octet, { minLength: 1, maxLength: 5 }), (octets) => {
        const text = octets.join('.');
        const general = ipaddr.isValid(text) ? ipaddr.parse(text) : undefined;
        const general4 =
          general?.kind() === 'ipv4' ? general.toString() : general === undefined ? undefined : (general as ipaddr.IPv6).toIPv4Address().toString();
        expect(parseIp(text)?.toString()).toBe(general4);
        expect(canonicalIp(text)).toBe(general4);
      }),
      { numRuns: 2000 },
    );
    expect(canonicalIp('::ffff:10.0.0.1')).toBe('10.0.0.1');
    for (const mapped of ['::ffff:10.0.0.1', '::ffff:010.0.0.1', '::ffff:255.255.255.255', '::ffff:256.0.0.1', '::ffff:0.0.0.0'])
      expect(parseIp(mapped)?.toString()).toBe(ipaddr.isValid(mapped) ? (ipaddr.parse(mapped) as ipaddr.IPv6).toIPv4Address().toString() : undefined);
    expect(canonicalIp('2001:DB8::1')).toBe('2001:db8::1');
    expect(canonicalIp('unknown')).toBeUndefined();
  });

  it('never matches across families', () => {
    expect(ipAllowed([parseCidr('0.0.0.0/0')!], parseIp('2001:db8::1')!)).toBe(false);
    expect(ipAllowed([parseCidr('::/0')!], parseIp('10.0.0.1')!)).toBe(false);
  });

  it('reads a bare address as a single-host range and writes ranges canonically', () => {
    expect(formatCidr(parseCidr('10.1.2.3')!)).toBe('10.1.2.3/32');
    expect(formatCidr(parseCidr('2001:DB8:0:0::1')!)).toBe('2001:db8::1/128');
    expect(formatCidr(parseCidr('::ffff:10.0.0.0/104')!)).toBe('10.0.0.0/8');
  });

  it.each(['', '10.0.0.0/33', '300.1.1.1', '10.0.0.0/-1', 'fe80::/129', 'x'.repeat(70), 'localhost'])('rejects %j', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });
});
