// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface OwnerWebhook {
  'tenant'?: (string);
  'owner'?: (string);
  'url'?: (string);
  /**
   * `whsec_…`: verifies the webhook's signatures. Shown once; registering again replaces it.
   */
  'secret'?: (string);
}

export interface OwnerWebhook__Output {
  'tenant': (string);
  'owner': (string);
  'url': (string);
  /**
   * `whsec_…`: verifies the webhook's signatures. Shown once; registering again replaces it.
   */
  'secret': (string);
}
