import ipaddr from 'ipaddr.js';
import { parseCidr } from '@keyledger/key-domain';

/** A table line that is not `CIDR,name`, with where. */
export class NetworkTableError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'NetworkTableError';
  }
}

/** Entries an operator's table may hold: a full IPv4 + IPv6 ASN table has about 700,000. */
export const MAX_NETWORK_TABLE_ENTRIES = 2_000_000;

/** A name never contains `/`, so it is never taken for a /24 or /48 a key also used. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,63}$/;

/** What a table says of an address: the name of the most specific range holding it, and that range. */
export interface NamedNetwork {
  readonly name: string;
  readonly cidr: string;
}

type Family = 'ipv4' | 'ipv6';

/**
 * An operator's table of address ranges and the networks they name (an ASN, a provider's
 * region: `52.94.0.0/15,AS16509 amazon`), for the new-network detector: a key that roams over
 * many /24s of one provider stays on one named network, and is judged by it. The most specific
 * range wins. Lookups try each prefix length the table has, longest first: one map lookup each.
 */
export class NetworkTable {
  /** Per family: prefix lengths present, longest first, and per length the masked prefix → entry. */
  private readonly lengths: Record<Family, number[]> = { ipv4: [], ipv6: [] };
  private readonly byLength: Record<Family, Map<number, Map<string, NamedNetwork>>> = { ipv4: new Map(), ipv6: new Map() };
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Reads `CIDR,name` lines; blank lines and lines starting with `#` are skipped. Throws NetworkTableError naming the line. */
  static parse(text: string): NetworkTable {
    const table = new NetworkTable();
    const lines = text.split(/\r?\n/);
    for (const [index, raw] of lines.entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const comma = line.indexOf(',');
      if (comma < 0) throw new NetworkTableError(index + 1, 'expected CIDR,name');
      const cidr = line.slice(0, comma).trim();
      const name = line.slice(comma + 1).trim();
      const range = parseCidr(cidr);
      if (range === undefined || !cidr.includes('/')) throw new NetworkTableError(index + 1, `not a CIDR range: ${JSON.stringify(cidr.slice(0, 64))}`);
      if (!NAME.test(name)) throw new NetworkTableError(index + 1, 'a name is 1 to 64 letters, digits, spaces or . _ : - (no /)');
      if (table.count >= MAX_NETWORK_TABLE_ENTRIES) throw new NetworkTableError(index + 1, `more than ${MAX_NETWORK_TABLE_ENTRIES} ranges`);
      const previous = table.add(range[0], range[1], name);
      if (previous !== undefined && previous.name !== name)
        throw new NetworkTableError(index + 1, `${previous.cidr} is already named ${JSON.stringify(previous.name)}`);
    }
    return table;
  }

  /** The named network holding an address, the most specific range first; undefined when none does. */
  lookup(address: ipaddr.IPv4 | ipaddr.IPv6): NamedNetwork | undefined {
    const family = address.kind();
    const bytes = address.toByteArray();
    const byLength = this.byLength[family];
    for (const bits of this.lengths[family]) {
      const found = byLength.get(bits)!.get(prefixKey(bytes, bits));
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Adds a range; returns the entry the same range had already, if any (kept). */
  private add(address: ipaddr.IPv4 | ipaddr.IPv6, bits: number, name: string): NamedNetwork | undefined {
    const family = address.kind();
    let entries = this.byLength[family].get(bits);
    if (entries === undefined) {
      entries = new Map();
      this.byLength[family].set(bits, entries);
      this.lengths[family].push(bits);
      this.lengths[family].sort((a, b) => b - a);
    }
    const key = prefixKey(address.toByteArray(), bits);
    const existing = entries.get(key);
    if (existing !== undefined) return existing;
    entries.set(key, { name, cidr: `${maskedAddress(address, bits)}/${bits}` });
    this.count += 1;
    return undefined;
  }
}

/** The first `bits` bits of an address, as text: a range's key, and an address's at that length. */
function prefixKey(bytes: readonly number[], bits: number): string {
  let key = '';
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) key += String.fromCharCode(bytes[i]!);
  const rest = bits & 7;
  if (rest > 0) key += String.fromCharCode(bytes[whole]! & (0xff << (8 - rest)) & 0xff);
  return key;
}

/** A range's first address, so `10.1.2.3/8` is written `10.0.0.0/8`. */
function maskedAddress(address: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  const bytes = address.toByteArray().map((byte, i) => byte & (0xff << (8 - Math.min(8, Math.max(0, bits - 8 * i)))) & 0xff);
  return ipaddr.fromByteArray(bytes).toString();
}
