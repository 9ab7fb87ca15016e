export * from './live-key-state.js';
export * from './live-key.js';
// Receivers of webhook deliveries check the webhook's HMAC, then open the delivery, which checks
// that Keyledger signed it for them before anything in it is opened.
export {
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  DELIVERY_REFUSAL_REASONS,
  DeliveryKeyError,
  WEBHOOK_SIGNATURE_HEADER,
  openDelivery,
  parseDeliveryPublicKeys,
  verifyWebhookSignature,
} from '@keyledger/key-delivery';
export type {
  DeliveryOpening,
  DeliveryPublicKey,
  DeliveryReceiver,
  DeliveryRefusalReason,
  OpenedKey,
  SealedKeyEnvelope,
  SignedDelivery,
  WebhookSignatureCheck,
  WebhookSignatureFailure,
  WebhookSignatureInput,
} from '@keyledger/key-delivery';
