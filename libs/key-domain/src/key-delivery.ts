import type { OwnerWebhookRegisteredData } from '@keyledger/contracts';
import type { KeyRecord } from './key-record.js';
import { statusAt } from './key-status.js';

/** Bounds of the redelivery backoff of an unacknowledged key. */
export interface DeliveryRetrySchedule {
  /** Wait after the first send. */
  readonly minMs: number;
  /** Longest wait between two sends. */
  readonly maxMs: number;
}

/**
 * How long to wait after send number `attempt` (1 for the first) before sending again:
 * doubling from `minMs`, never more than `maxMs`. Bounded, so an owner back after an outage
 * waits at most `maxMs` for its key.
 */
export function deliveryRetryDelayMs(attempt: number, schedule: DeliveryRetrySchedule): number {
  const exponent = Math.max(0, Math.min(Math.floor(attempt) - 1, 40));
  return Math.min(schedule.maxMs, schedule.minMs * 2 ** exponent);
}

/** What a delivery's expiry depends on (epoch ms). */
export interface DeliveryLifetime {
  /** When the delivery starts (the rotation). */
  readonly startedAt: number;
  /** When the replaced key stops working; the rotation itself for an emergency. */
  readonly graceEndsAt: number;
  /** The delivered key's own expiry, if it has one. */
  readonly keyExpiresAt: number | undefined;
  /** How long a delivery is kept at least (`DELIVERY_TTL_MS`). */
  readonly ttlMs: number;
}

/**
 * When redelivery of a key stops and its sealed copy is deleted: at the later of the old key's
 * grace end and `ttlMs` after the rotation, but never after the delivered key expires.
 *
 * Not simply the grace end: an emergency rotation has no grace, yet its holder needs the new
 * key most, and a holder that has not received its key by the grace end is the one that is
 * broken and waiting for it. Not beyond the delivered key's expiry: it would be of no use.
 */
export function deliveryExpiresAt(lifetime: DeliveryLifetime): number {
  const keep = Math.max(lifetime.graceEndsAt, lifetime.startedAt + lifetime.ttlMs);
  return lifetime.keyExpiresAt === undefined ? keep : Math.min(keep, lifetime.keyExpiresAt);
}

/**
 * Whether a pending delivery of `record` should still be sent at `now`: not for a key that is
 * revoked or expired (an emergency rotation of it, say), which its holder could not use.
 */
export function deliveryStillUseful(record: KeyRecord, now: number): boolean {
  const status = statusAt(record.status, record.expiresAt, now);
  return status === 'active' || status === 'suspended';
}

/** A registered webhook (an owner's for its keys, or a tenant's for its notifications): where it is POSTed to and which secret signs it. */
export interface OwnerWebhook {
  readonly url: string;
  readonly secretId: string;
}

/** The latest webhook of each owner of one tenant. */
export type OwnerWebhookTable = ReadonlyMap<string, OwnerWebhook>;

/** Folds one OwnerWebhookRegistered: a later registration replaces the owner's webhook. */
export function evolveOwnerWebhooks(table: OwnerWebhookTable, data: OwnerWebhookRegisteredData): OwnerWebhookTable {
  const next = new Map(table);
  next.set(data.owner, { url: data.url, secretId: data.secretId });
  return next;
}

/** The webhook of `owner`, or undefined when it registered none. */
export function ownerWebhookOf(table: OwnerWebhookTable, owner: string): OwnerWebhook | undefined {
  return table.get(owner);
}
