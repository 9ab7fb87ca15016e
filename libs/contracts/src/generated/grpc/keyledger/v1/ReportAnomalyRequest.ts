// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface ReportAnomalyRequest {
  'keyId'?: (string);
  /**
   * "usage-spike", "new-source", "error-rate", "unusual-time", "dead-key-use", "dormant-key-use" or "other".
   */
  'kind'?: (string);
  /**
   * "low", "medium", "high" or "critical".
   */
  'severity'?: (string);
  'detail'?: (string);
  /**
   * Default: now.
   */
  'detectedAt'?: (string);
  '_detail'?: "detail";
  '_detectedAt'?: "detectedAt";
}

export interface ReportAnomalyRequest__Output {
  'keyId': (string);
  /**
   * "usage-spike", "new-source", "error-rate", "unusual-time", "dead-key-use", "dormant-key-use" or "other".
   */
  'kind': (string);
  /**
   * "low", "medium", "high" or "critical".
   */
  'severity': (string);
  'detail'?: (string);
  /**
   * Default: now.
   */
  'detectedAt'?: (string);
  '_detail'?: "detail";
  '_detectedAt'?: "detectedAt";
}
