import { z } from 'zod';
import { tenantIdSchema } from './key-events.js';
import type { NetworkDenialReason } from './network-events.js';
import { MAX_NETWORK_DENIAL_MS, deniedTenantSchema } from './network-events.js';

/** A network as an operator gives it: a CIDR or a single address (its canonical form is what is denied). */
const networkTextSchema = z.string().min(1).max(64);

/** `networks.deny`: refuses a network at every verifier, for a tenant's keys (or every tenant's: `*`, a root admin key only), for `forMs`. */
export const denyNetworkRequestSchema = z
  .object({
    network: networkTextSchema,
    tenant: deniedTenantSchema,
    forMs: z.number().int().min(1000).max(MAX_NETWORK_DENIAL_MS),
    detail: z
      .string()
      .min(1)
      .max(1000)
      .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
      .optional(),
  })
  .strict();
export type DenyNetworkRequest = z.infer<typeof denyNetworkRequestSchema>;

/** `networks.allow`: lifts the denial of a network for a tenant (or every tenant's) before its end. */
export const allowNetworkRequestSchema = z.object({ network: networkTextSchema, tenant: deniedTenantSchema }).strict();
export type AllowNetworkRequest = z.infer<typeof allowNetworkRequestSchema>;

/** `networks.list`: the denials in force, of one tenant (with those of every tenant) or, for a root admin key, all. */
export const listNetworkDenialsRequestSchema = z.object({ tenant: tenantIdSchema.optional() }).strict();
export type ListNetworkDenialsRequest = z.infer<typeof listNetworkDenialsRequestSchema>;

/** A denial as the admin API shows it. */
export interface NetworkDenialView {
  readonly network: string;
  /** A tenant, or `*` for every tenant. */
  readonly tenant: string;
  readonly until: string;
  readonly reason: NetworkDenialReason;
  readonly findingId: string | null;
  readonly detail: string | null;
  readonly deniedBy: string;
  readonly deniedAt: string;
}

/** What `networks.allow` did: lifted a denial in force, or found none (nothing recorded). */
export interface NetworkAllowResult {
  readonly network: string;
  readonly tenant: string;
  readonly lifted: boolean;
}
