// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface RegisterNotificationWebhookRequest {
  'tenant'?: (string);
  /**
   * https:// only, without credentials or fragment.
   */
  'url'?: (string);
}

export interface RegisterNotificationWebhookRequest__Output {
  'tenant': (string);
  /**
   * https:// only, without credentials or fragment.
   */
  'url': (string);
}
