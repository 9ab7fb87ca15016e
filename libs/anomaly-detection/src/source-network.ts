import { parseIp } from '@keyledger/key-domain';
import type { NamedNetwork, NetworkTable } from './network-table.js';

/**
 * The network a caller address belongs to, as the detectors compare sources: an IPv4 address's
 * /24, an IPv6 address's /48 (what one site or one provider's customer is usually given), as
 * CIDR text (`203.0.113.0/24`, `2001:db8:1::/48`). An IPv4-mapped IPv6 address is its IPv4
 * address. Undefined for anything that is not an address (a transport without one).
 */
export function sourceNetwork(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  const address = parseIp(ip);
  if (address === undefined) return undefined;
  if (address.kind() === 'ipv4') {
    const [a, b, c] = address.toByteArray();
    return `${a}.${b}.${c}.0/24`;
  }
  const parts = address.toByteArray();
  const words = [0, 2, 4].map((i) => ((parts[i]! << 8) | parts[i + 1]!).toString(16));
  return `${words.join(':')}::/48`;
}

/**
 * `sourceNetwork` with a bounded memo: the same few addresses make most calls, and parsing one
 * costs more than every detector together. Forgets everything when full (no eviction order to
 * keep). With an operator's table, also the named network of an address (`nameOf`), memoised alike.
 */
export class SourceNetworks {
  private readonly memo = new Map<string, string | undefined>();
  private readonly names = new Map<string, NamedNetwork | undefined>();

  constructor(
    private readonly table?: NetworkTable,
    private readonly capacity = 65_536,
  ) {}

  of(ip: string | undefined): string | undefined {
    if (ip === undefined) return undefined;
    if (this.memo.has(ip)) return this.memo.get(ip);
    if (this.memo.size >= this.capacity) this.memo.clear();
    const network = sourceNetwork(ip);
    this.memo.set(ip, network);
    return network;
  }

  /** The named network the operator's table puts an address in; undefined without a table or a range holding it. */
  nameOf(ip: string | undefined): NamedNetwork | undefined {
    if (this.table === undefined || ip === undefined) return undefined;
    if (this.names.has(ip)) return this.names.get(ip);
    if (this.names.size >= this.capacity) this.names.clear();
    const address = parseIp(ip);
    const named = address === undefined ? undefined : this.table.lookup(address);
    this.names.set(ip, named);
    return named;
  }
}
