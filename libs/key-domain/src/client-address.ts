import { DomainError } from './domain-error.js';
import type { IpRange } from './ip-allowlist.js';
import { canonicalIp, ipAllowed, parseIp } from './ip-allowlist.js';

/** Where a request's caller address came from, as the edge read it. */
export interface RequestOrigin {
  /** The TCP peer's address (the socket's remote address). */
  readonly peer: string | undefined;
  /** `X-Real-IP`, as received. */
  readonly realIp: string | undefined;
  /** `X-Forwarded-For`, as received (one header; several are joined with commas by Node). */
  readonly forwardedFor: string | undefined;
}

/** Who the caller is, and whether the headers that assert it (and cost, and tenant) may be honoured. */
export interface ClientAddress {
  /** The caller's address as text; undefined when the peer's own is unknown. */
  readonly ip: string | undefined;
  /** The peer is a trusted proxy: its identity and cost headers are honoured. */
  readonly viaTrustedProxy: boolean;
}

/** Most `X-Forwarded-For` entries walked, from the right: no real chain of proxies is longer. */
const MAX_FORWARDED_HOPS = 32;

/** True when `address` (text) is an IP address inside one of `ranges`. */
export function isTrustedAddress(ranges: readonly IpRange[], address: string | undefined): boolean {
  if (ranges.length === 0 || address === undefined) return false;
  const parsed = parseIp(address);
  return parsed !== undefined && ipAllowed(ranges, parsed);
}

/**
 * A TCP peer as the trusted-proxy rule sees it. It is the same for every request of a
 * connection, so a transport may classify a connection's peer once (`classifyPeer`) and ask
 * `callerAddress` for each request on it.
 */
export interface ClassifiedPeer {
  /** The peer's address in canonical text; undefined when the socket does not know it. */
  readonly ip: string | undefined;
  /** The peer is one of the trusted proxies: its identity and cost headers are honoured. */
  readonly trusted: boolean;
  /** The answer for every request from an untrusted peer (the peer itself), built once. */
  readonly asCaller: ClientAddress;
}

/** Classifies a TCP peer's address against the trusted proxies (`clientAddress` for the rule). */
export function classifyPeer(peer: string | undefined, trustedProxies: readonly IpRange[]): ClassifiedPeer {
  const ip = canonical(peer);
  return { ip, trusted: isTrustedAddress(trustedProxies, peer), asCaller: Object.freeze({ ip, viaTrustedProxy: false }) };
}

/**
 * The caller of a request, by the trusted-proxy rule: headers that say who the caller is are
 * believed only from a TCP peer inside `trustedProxies`; from any other peer the caller is the
 * peer itself, whatever the headers say. From a trusted proxy, `X-Real-IP` when set (the proxy
 * writes it from its own peer), otherwise the right-most `X-Forwarded-For` address that is not a
 * trusted proxy: every proxy appends the address it was called from, so the entries right of the
 * first untrusted one were written by trusted proxies, and those left of it by whoever the
 * client is, who may have written anything. When every entry is a trusted proxy, the left-most.
 * A value a trusted proxy asserts that is not an IP address (`X-Real-IP`, or an `X-Forwarded-For`
 * entry the walk reaches) is a broken proxy, not a caller: INVALID_ARGUMENT, nothing believed.
 * Entries left of the caller are never read, so what a client wrote there cannot fail a request.
 */
export function clientAddress(origin: RequestOrigin, trustedProxies: readonly IpRange[]): ClientAddress {
  return callerAddress(classifyPeer(origin.peer, trustedProxies), origin, trustedProxies);
}

/** `clientAddress` for a peer already classified against the same `trustedProxies`. */
export function callerAddress(peer: ClassifiedPeer, asserted: Omit<RequestOrigin, 'peer'>, trustedProxies: readonly IpRange[]): ClientAddress {
  if (!peer.trusted) return peer.asCaller;
  const realIp = asserted.realIp?.trim();
  if (realIp) return { ip: assertedAddress(realIp, 'X-Real-IP'), viaTrustedProxy: true };
  const hops = asserted.forwardedFor?.split(',') ?? [];
  let caller: string | undefined;
  for (let i = hops.length - 1; i >= Math.max(0, hops.length - MAX_FORWARDED_HOPS); i -= 1) {
    const hop = hops[i]!.trim();
    if (hop === '') continue;
    caller = assertedAddress(hop, 'X-Forwarded-For');
    if (!isTrustedAddress(trustedProxies, caller)) break;
  }
  return { ip: caller ?? peer.ip, viaTrustedProxy: true };
}

/** A trusted proxy's claim of an address, canonical; INVALID_ARGUMENT naming where it came from when it is not one. */
function assertedAddress(text: string, source: string): string {
  const ip = canonicalIp(text);
  // The value itself is left out: it is whatever reached the proxy, and may be anything.
  if (ip === undefined) throw new DomainError('INVALID_ARGUMENT', `${source} from a trusted proxy is not an IP address`);
  return ip;
}

/** An address in its canonical text (`::ffff:10.0.0.1` is `10.0.0.1`); anything else as it came. */
function canonical(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  return canonicalIp(address) ?? address;
}
