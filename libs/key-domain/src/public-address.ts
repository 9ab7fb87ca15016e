import ipaddr from 'ipaddr.js';

/**
 * Whether an IP address is public unicast: not private, shared (CGNAT), loopback, link-local
 * (cloud metadata endpoints), unique-local, unspecified, multicast or reserved, and not one of
 * the IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4, Teredo) unless that address is
 * public itself. What an owner's webhook may point the rotator at by default: anything else is
 * inside someone's network. Not an address at all: false.
 */
export function isPublicUnicastAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return isPublicUnicastAddress(v6.toIPv4Address().toString());
    const range = v6.range();
    // NAT64 (64:ff9b::/96): the IPv4 address is the last 32 bits.
    if (range === 'rfc6052') return isPublicUnicastAddress(ipaddr.fromByteArray(v6.toByteArray().slice(12)).toString());
    return range === 'unicast';
  }
  return parsed.range() === 'unicast';
}
