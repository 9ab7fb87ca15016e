/** Header names of Keyledger's messages (events, dead letters, usage batches). JetStream deduplicates on `Nats-Msg-Id`. */
export const MESSAGE_HEADERS = {
  msgId: 'Nats-Msg-Id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  eventType: 'Keyledger-Event-Type',
  schemaVersion: 'Keyledger-Schema-Version',
  streamId: 'Keyledger-Stream-Id',
  streamVersion: 'Keyledger-Stream-Version',
  position: 'Keyledger-Position',
  transactionId: 'Keyledger-Transaction-Id',
  deadLetterReason: 'Keyledger-Dead-Letter-Reason',
  deadLetterConsumer: 'Keyledger-Dead-Letter-Consumer',
  deadLetterDeliveries: 'Keyledger-Dead-Letter-Deliveries',
  /** A usage batch's seal (`formatUsageSeal`). */
  usageSeal: 'Keyledger-Usage-Seal',
  /** A security alert's seal (`formatUsageSeal`'s form: `<key version>:<base64 MAC>`). */
  alertSeal: 'Keyledger-Alert-Seal',
  /** A tenant notification's seal (the same form). */
  notificationSeal: 'Keyledger-Notification-Seal',
} as const;
