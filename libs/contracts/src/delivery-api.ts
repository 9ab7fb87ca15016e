import { z } from 'zod';
import { keyIdSchema, ownerSchema, tenantIdSchema } from './key-events.js';
import { webhookUrlSchema } from './delivery-events.js';

/** Registers an owner's HTTPS webhook for its rotated keys. */
export const registerOwnerWebhookRequestSchema = z.object({ tenant: tenantIdSchema, owner: ownerSchema, url: webhookUrlSchema }).strict();
export type RegisterOwnerWebhookRequest = z.infer<typeof registerOwnerWebhookRequestSchema>;

/** A registered webhook as its registration answers: `secret` verifies the signatures, shown here once. */
export interface OwnerWebhookView {
  readonly tenant: string;
  readonly owner: string;
  readonly url: string;
  readonly secret: string;
}

/** Registers the tenant's HTTPS webhook for its notifications (`tenants.register-notification-webhook`). */
export const registerNotificationWebhookRequestSchema = z.object({ tenant: tenantIdSchema, url: webhookUrlSchema }).strict();
export type RegisterNotificationWebhookRequest = z.infer<typeof registerNotificationWebhookRequestSchema>;

/** Removes the tenant's notification webhook (`tenants.remove-notification-webhook`); notifications stay on NATS. */
export const removeNotificationWebhookRequestSchema = z.object({ tenant: tenantIdSchema }).strict();
export type RemoveNotificationWebhookRequest = z.infer<typeof removeNotificationWebhookRequestSchema>;

/**
 * The tenant's notification webhook as a registration answers it (`secret` verifies the
 * signatures, shown here once), or as a removal does (`url` and `secret` null).
 */
export interface NotificationWebhookView {
  readonly tenant: string;
  readonly url: string | null;
  readonly secret: string | null;
}

/** An ack token as sealed beside a key (envelope v2): base64url of 32 random bytes. */
export const ackTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not an ack token');

/** A client acknowledges a delivered key with the ack token it found in the envelope. */
export const acknowledgeDeliveryRequestSchema = z.object({ keyId: keyIdSchema, ackToken: ackTokenSchema }).strict();
export type AcknowledgeDeliveryRequest = z.infer<typeof acknowledgeDeliveryRequestSchema>;

/**
 * What an acknowledgement did: recorded it, found it recorded before (a duplicate), or found
 * the delivery expired (the proof was right, nothing is recorded).
 */
export type DeliveryAckStatus = 'ACKNOWLEDGED' | 'ALREADY_ACKNOWLEDGED' | 'EXPIRED';

export interface DeliveryAckResult {
  readonly keyId: string;
  readonly status: DeliveryAckStatus;
}
