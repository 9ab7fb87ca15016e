// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface NotificationWebhook {
  'tenant'?: (string);
  'url'?: (string);
  /**
   * `whsec_…`: verifies the webhook's signatures. Shown once; registering again replaces it.
   */
  'secret'?: (string);
}

export interface NotificationWebhook__Output {
  'tenant': (string);
  'url': (string);
  /**
   * `whsec_…`: verifies the webhook's signatures. Shown once; registering again replaces it.
   */
  'secret': (string);
}
