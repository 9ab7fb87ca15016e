import type { AnomalySeverity, EffectiveIncidentPolicy, NetworkEvent, SourceNetworkDeniedData } from '@keyledger/contracts';
import { ALL_TENANTS } from '@keyledger/contracts';
import type { IpRange } from './ip-allowlist.js';
import { formatCidr, ipAllowed, parseCidr, parseIp } from './ip-allowlist.js';

/** One denial in force (or ended but not yet forgotten): a network refused for a tenant's keys, or every tenant's (`*`). */
export interface NetworkDenial {
  readonly network: string;
  readonly tenant: string;
  /** Epoch ms: refused while a verification's time is before it. */
  readonly until: number;
  readonly reason: SourceNetworkDeniedData['reason'];
  readonly findingId?: string | undefined;
  readonly detail?: string | undefined;
  readonly deniedBy: string;
  readonly deniedAt: string;
}

/**
 * A network's canonical CIDR text, host bits cleared (`203.0.113.7/24` is `203.0.113.0/24`, an
 * IPv4-mapped range its IPv4 range); undefined when the text is not a CIDR or a single address.
 * Denials are keyed by it, so one network is denied and lifted under one name.
 */
export function canonicalNetwork(text: string): string | undefined {
  const range = parseCidr(text);
  if (range === undefined) return undefined;
  const [address, bits] = range;
  const bytes = address.toByteArray();
  for (let i = 0; i < bytes.length; i += 1) {
    const kept = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - kept)) & 0xff);
  }
  const cleared = parseIp(address.kind() === 'ipv4' ? bytes.join('.') : ipv6Text(bytes));
  return cleared === undefined ? undefined : formatCidr([cleared, bits]);
}

/** The widest network a tenant's own denial may cover: a /16 of IPv4, a /32 of IPv6. */
export const WIDEST_TENANT_DENIAL = { ipv4: 16, ipv6: 32 } as const;

/**
 * Whether a denial of this (canonical) network, made for one tenant, is wider than a tenant may
 * deny: it is enforced on every caller from the network, whatever tenant they ask for, so a
 * tenant's denial of most of the Internet would be everyone's. Wider denials are the root's.
 */
export function isTooWideForTenant(network: string): boolean {
  const range = parseCidr(network);
  if (range === undefined) return true;
  const [address, bits] = range;
  return bits < (address.kind() === 'ipv4' ? WIDEST_TENANT_DENIAL.ipv4 : WIDEST_TENANT_DENIAL.ipv6);
}

function ipv6Text(bytes: readonly number[]): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return words.join(':');
}

/**
 * The denials of source networks as a verifier holds them, folded from the network streams'
 * events. Time is never read here: a denial is in force for a verification whose time is before
 * its `until`, and `forgetEnded` drops the ended ones by the time the caller's events have
 * reached (a projection's event-time clock), so the same events give the same table.
 */
export class NetworkDenialTable {
  private readonly denials = new Map<string, NetworkDenial>();
  private readonly ranges = new Map<string, IpRange>();

  /** Denials held, ended ones not yet forgotten included. */
  get size(): number {
    return this.denials.size;
  }

  /** Folds one network event: a denial replaces the one of its network and tenant; an allow removes it. */
  apply(event: NetworkEvent): void {
    const network = canonicalNetwork(event.data.network);
    const range = network === undefined ? undefined : parseCidr(network);
    if (network === undefined || range === undefined) return;
    const id = denialId(network, event.data.tenant);
    if (event.type === 'SourceNetworkAllowed') {
      this.denials.delete(id);
      this.ranges.delete(id);
      return;
    }
    const { data } = event;
    this.denials.set(id, {
      network,
      tenant: data.tenant,
      until: Date.parse(data.until),
      reason: data.reason,
      ...(data.findingId === undefined ? {} : { findingId: data.findingId }),
      ...(data.detail === undefined ? {} : { detail: data.detail }),
      deniedBy: data.deniedBy,
      deniedAt: data.at,
    });
    this.ranges.set(id, range);
  }

  /**
   * True when a denial in force at `now` covers the caller at `ip` for `tenant`: one of every
   * tenant, or of that tenant; for an undefined tenant (the call's tenant is not known), any
   * denial of a network the address is in. False for an address that is not an IP address.
   */
  denies(ip: string, tenant: string | undefined, now: number): boolean {
    if (this.denials.size === 0) return false;
    const address = parseIp(ip);
    if (address === undefined) return false;
    for (const [id, denial] of this.denials) {
      if (now >= denial.until) continue;
      if (tenant !== undefined && denial.tenant !== ALL_TENANTS && denial.tenant !== tenant) continue;
      if (ipAllowed([this.ranges.get(id)!], address)) return true;
    }
    return false;
  }

  /** Every denial held, ended ones included (for lists and snapshots), in network then tenant order. */
  list(): NetworkDenial[] {
    return [...this.denials.values()].sort((a, b) => (a.network === b.network ? cmp(a.tenant, b.tenant) : cmp(a.network, b.network)));
  }

  /** Forgets the denials that ended at `limit` or before. */
  forgetEnded(limit: number): void {
    for (const [id, denial] of this.denials)
      if (denial.until <= limit) {
        this.denials.delete(id);
        this.ranges.delete(id);
      }
  }

  /** Fills an empty table with denials as `list` gave them (from a snapshot). */
  restore(denials: readonly NetworkDenial[]): void {
    for (const denial of denials) {
      const range = parseCidr(denial.network);
      if (range === undefined) continue;
      const id = denialId(denial.network, denial.tenant);
      this.denials.set(id, denial);
      this.ranges.set(id, range);
    }
  }
}

function denialId(network: string, tenant: string): string {
  return `${tenant} ${network}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An enumeration finding as a denial needs it: the network and the tenant the calls asked for, when known. */
export interface EnumerationFinding {
  readonly findingId: string;
  readonly network: string;
  readonly tenant: string | undefined;
  /** `high` for a burst; `medium` for a few keys guessed slowly, which only notifies. */
  readonly severity: AnomalySeverity;
  readonly detail: string;
}

/**
 * The denial an enumeration leads to under the tenant's incident policy, or undefined (the
 * policy only notifies, no tenant is known, or the finding is less than high: a handful of
 * keys guessed from a network that may be a NAT of healthy callers is worth telling, not yet
 * worth locking everyone behind it out). A tenant's policy denies the network for its
 * own keys only: a tenant cannot refuse another tenant's callers, and an enumeration that
 * named no tenant falls to no tenant's policy (an operator denies every tenant's, by hand).
 */
export function enumerationDenial(
  finding: EnumerationFinding,
  policy: Pick<EffectiveIncidentPolicy, 'onEnumeration' | 'denyForMs'>,
  deniedBy: string,
  now: number,
): SourceNetworkDeniedData | undefined {
  if (finding.tenant === undefined || policy.onEnumeration !== 'deny' || (finding.severity !== 'high' && finding.severity !== 'critical')) return undefined;
  const network = canonicalNetwork(finding.network);
  if (network === undefined) return undefined;
  return {
    network,
    tenant: finding.tenant,
    until: new Date(now + policy.denyForMs).toISOString(),
    reason: 'enumeration',
    findingId: finding.findingId,
    detail: finding.detail.slice(0, 1000),
    deniedBy,
    at: new Date(now).toISOString(),
  };
}
