import { z } from 'zod';
import { keyIdSchema, ownerSchema, tenantIdSchema } from './key-events.js';
import { parseUrl } from './web-globals.js';

/**
 * Events of key delivery beyond KeyDelivered (key-events.ts), version 1. None of them carries a
 * key, an envelope or a webhook's signing secret.
 */

/** Where a sealed key is delivered: the owner's NATS delivery subject, or the owner's HTTPS webhook. */
export const DELIVERY_CHANNELS = ['nats', 'webhook'] as const;
export type DeliveryChannel = (typeof DELIVERY_CHANNELS)[number];
export const deliveryChannelSchema = z.enum(DELIVERY_CHANNELS);

const isoInstant = z.iso.datetime({ offset: true });

/** Longest webhook URL accepted. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/**
 * A webhook URL: absolute `https:`, without user or password (they would end up in events)
 * and without a fragment (never sent).
 */
export const webhookUrlSchema = z
  .string()
  .max(MAX_WEBHOOK_URL_LENGTH)
  .refine((text) => {
    try {
      const url = parseUrl(text);
      return url.protocol === 'https:' && url.username === '' && url.password === '' && url.hash === '' && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an absolute https:// URL without credentials or fragment');

/** Names a webhook registration; its signing secret is derived from the pepper and this id, never stored. */
export const webhookSecretIdSchema = z.string().regex(/^whk_[0-9a-hjkmnp-tv-z]{26}$/, 'not a webhook secret id');

/**
 * An owner's HTTPS webhook, on the tenant's stream `tenant-<tenant>`: the owner's new keys are
 * also POSTed there, sealed, and signed with the secret of `secretId`. A later registration
 * replaces the owner's webhook (and its secret).
 */
export const ownerWebhookRegisteredSchema = z
  .object({
    tenant: tenantIdSchema,
    owner: ownerSchema,
    url: webhookUrlSchema,
    secretId: webhookSecretIdSchema,
  })
  .strict();
export type OwnerWebhookRegisteredData = z.infer<typeof ownerWebhookRegisteredSchema>;

/**
 * The tenant's notification webhook, on the tenant's stream `tenant-<tenant>`: every notification
 * published on `<prefix>.v1.notifications.<tenant>` is also POSTed there, signed with the secret of
 * `secretId`. A later registration replaces it (and its secret); `url: null` removes it.
 */
export const notificationWebhookSetSchema = z
  .object({
    tenant: tenantIdSchema,
    url: webhookUrlSchema.nullable(),
    secretId: webhookSecretIdSchema.nullable(),
  })
  .strict()
  .refine((data) => (data.url === null) === (data.secretId === null), 'a webhook has both a URL and a secret id, a removal neither');
export type NotificationWebhookSetData = z.infer<typeof notificationWebhookSetSchema>;

/**
 * The owner has the key: a client acknowledged it on NATS with the ack token sealed beside it,
 * or the owner's webhook answered 2xx. Ends the delivery (stream `delivery-<keyId>`); the
 * sealed copy is deleted.
 */
export const keyDeliveryAcknowledgedSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    owner: ownerSchema,
    channel: deliveryChannelSchema,
    /** Sends made on every channel until then. */
    attempts: z.number().int().min(0),
    at: isoInstant,
  })
  .strict();
export type KeyDeliveryAcknowledgedData = z.infer<typeof keyDeliveryAcknowledgedSchema>;

/** Nobody acknowledged the key before the delivery's expiry: redelivery stopped and the sealed copy was deleted. */
export const keyDeliveryExpiredSchema = z
  .object({
    keyId: keyIdSchema,
    tenant: tenantIdSchema,
    owner: ownerSchema,
    attempts: z.number().int().min(0),
    at: isoInstant,
  })
  .strict();
export type KeyDeliveryExpiredData = z.infer<typeof keyDeliveryExpiredSchema>;
