// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface RegisterOwnerWebhookRequest {
  'tenant'?: (string);
  'owner'?: (string);
  /**
   * https:// only, without credentials or fragment.
   */
  'url'?: (string);
}

export interface RegisterOwnerWebhookRequest__Output {
  'tenant': (string);
  'owner': (string);
  /**
   * https:// only, without credentials or fragment.
   */
  'url': (string);
}
