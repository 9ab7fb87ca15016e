// Original file: libs/contracts/proto/keyledger/v1/usage.proto


export interface KeyUsageRequest {
  'keyId'?: (string);
  /**
   * Start of the window (inclusive); default: 24 hours before `until`.
   */
  'since'?: (string);
  /**
   * End of the window (exclusive); default: now.
   */
  'until'?: (string);
  /**
   * "minute", "hour" (the default) or "day".
   */
  'by'?: (string);
  '_since'?: "since";
  '_until'?: "until";
  '_by'?: "by";
}

export interface KeyUsageRequest__Output {
  'keyId': (string);
  /**
   * Start of the window (inclusive); default: 24 hours before `until`.
   */
  'since'?: (string);
  /**
   * End of the window (exclusive); default: now.
   */
  'until'?: (string);
  /**
   * "minute", "hour" (the default) or "day".
   */
  'by'?: (string);
  '_since'?: "since";
  '_until'?: "until";
  '_by'?: "by";
}
