import { z } from 'zod';
import { tenantIdSchema } from './key-events.js';

/**
 * Denials of a source network, on the network's own stream (`network-<cidr with / as _>`):
 * every verifier refuses calls from the network, for one tenant's keys or for every tenant's
 * (`tenant: '*'`), until `until`, or until an operator lifts the denial. Version 1; a field is
 * only ever added (as optional) within a version.
 */
const isoInstant = z.iso.datetime({ offset: true });

/** Every tenant: a denial only an operator (a root admin key) makes. */
export const ALL_TENANTS = '*';

/** A network as a denial names it: canonical CIDR text (`203.0.113.0/24`, `2001:db8:1::/48`). */
export const networkCidrSchema = z.union([z.cidrv4(), z.cidrv6()]);

/** Who a denial covers: one tenant's keys, or every tenant's. */
export const deniedTenantSchema = z.union([tenantIdSchema, z.literal(ALL_TENANTS)]);

/** Why a network was denied: an enumeration finding under the tenant's incident policy, or an operator. */
export const NETWORK_DENIAL_REASONS = ['enumeration', 'operator'] as const;
export type NetworkDenialReason = (typeof NETWORK_DENIAL_REASONS)[number];

/** The longest denial: a week. Longer is a firewall's job. */
export const MAX_NETWORK_DENIAL_MS = 7 * 86_400_000;

const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

/** A network is refused by every verifier, for `tenant`'s keys (or all), until `until`. A later denial of the same network and tenant replaces it. */
export const sourceNetworkDeniedSchema = z
  .object({
    network: networkCidrSchema,
    tenant: deniedTenantSchema,
    until: isoInstant,
    reason: z.enum(NETWORK_DENIAL_REASONS),
    /** The anomaly finding that led to it (anomaly_source_findings.finding_id), for an enumeration. */
    findingId: z.uuid().optional(),
    /** What was seen or why, for people. */
    detail: printable(1000).optional(),
    /** The principal that denied it, as event metadata names actors. */
    deniedBy: printable(200),
    at: isoInstant,
  })
  .strict();
export type SourceNetworkDeniedData = z.infer<typeof sourceNetworkDeniedSchema>;

/** A denial lifted before its end by an operator. */
export const sourceNetworkAllowedSchema = z
  .object({
    network: networkCidrSchema,
    tenant: deniedTenantSchema,
    allowedBy: printable(200),
    at: isoInstant,
  })
  .strict();
export type SourceNetworkAllowedData = z.infer<typeof sourceNetworkAllowedSchema>;

/** The events of a network's stream. */
export type NetworkEvent =
  | { readonly type: 'SourceNetworkDenied'; readonly data: SourceNetworkDeniedData }
  | { readonly type: 'SourceNetworkAllowed'; readonly data: SourceNetworkAllowedData };

/** The aggregate id of a network's stream: its CIDR with `/` as `_` (a stream id has no `/`). */
export function networkAggregateId(network: string): string {
  return network.replace('/', '_');
}

/** What the incident policy may ask for an enumeration from a source network. */
export const ENUMERATION_POLICY_ACTIONS = ['notify', 'deny'] as const;
export type EnumerationPolicyAction = (typeof ENUMERATION_POLICY_ACTIONS)[number];

/** An enumeration denies its network for an hour unless the incident policy says otherwise. */
export const DEFAULT_NETWORK_DENIAL_MS = 3_600_000;
