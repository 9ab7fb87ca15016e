export * from './live-key-state.js';
export * from './live-key.js';
// Receivers of webhook deliveries check the signature before opening the envelope.
export { DEFAULT_WEBHOOK_TOLERANCE_SECONDS, WEBHOOK_SIGNATURE_HEADER, openSealedKey, verifyWebhookSignature } from '@keyledger/key-delivery';
export type { OpenedKey, SealedKeyEnvelope, WebhookSignatureCheck, WebhookSignatureFailure, WebhookSignatureInput } from '@keyledger/key-delivery';
