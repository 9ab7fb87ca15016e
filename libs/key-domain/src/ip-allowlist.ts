import ipaddr from 'ipaddr.js';

/**
 * IP allowlists: IPv4 and IPv6 CIDR ranges. An IPv4-mapped IPv6 address (::ffff:10.0.0.1)
 * is treated as the IPv4 address it carries, so it matches IPv4 rules, as a dual-stack
 * socket reports IPv4 clients that way.
 */
export type IpRange = readonly [ipaddr.IPv4 | ipaddr.IPv6, number];

export const MAX_ALLOWLIST_ENTRIES = 100;

function normalise(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a single address (a /32 or /128). */
export function parseCidr(text: string): IpRange | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  try {
    if (text.includes('/')) {
      const [address, bits] = ipaddr.parseCIDR(text);
      // ::ffff:10.0.0.0/104 is the IPv4 range 10.0.0.0/8.
      if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
        return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
      return [address, bits];
    }
    const address = normalise(ipaddr.parse(text));
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    // ipaddr.js throws on any malformed text; for us that is simply "not a CIDR".
    return undefined;
  }
}

/**
 * An IPv4 address in dotted decimal without leading zeros: the form nearly every caller address
 * comes in, read here in a fraction of the time ipaddr.js's general parser takes (which reads
 * it, and every other form, the same way: a leading zero would make an octet octal there, so
 * those are left to it).
 */
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

function dottedQuad(text: string): ipaddr.IPv4 | undefined {
  const match = DOTTED_QUAD.exec(text);
  if (match === null) return undefined;
  const octets = [Number(match[1]), Number(match[2]), Number(match[3]), Number(match[4])];
  return octets.every((octet) => octet <= 255) ? new ipaddr.IPv4(octets) : undefined;
}

/** Parses a caller address; undefined when it is not an IP address. */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  // A dual-stack socket's IPv4 peer (::ffff:10.0.0.1) is the IPv4 address, as normalise makes it.
  const quad = dottedQuad(text.startsWith('::ffff:') ? text.slice(7) : text);
  if (quad !== undefined) return quad;
  if (!ipaddr.isValid(text)) return undefined;
  return normalise(ipaddr.parse(text));
}

/** An address's canonical text (`::ffff:10.0.0.1` is `10.0.0.1`); undefined when it is not an IP address. */
export function canonicalIp(text: string): string | undefined {
  // Dotted decimal without leading zeros is canonical already: no parse, no new string.
  if (typeof text === 'string' && dottedQuad(text) !== undefined) return text;
  if (typeof text === 'string' && text.startsWith('::ffff:') && dottedQuad(text.slice(7)) !== undefined) return text.slice(7);
  return parseIp(text)?.toString();
}

export function ipAllowed(ranges: readonly IpRange[], address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return ranges.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));
}

/** The canonical text of a CIDR, as stored in events. */
export function formatCidr([address, bits]: IpRange): string {
  return `${address.toString()}/${bits}`;
}
