// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface RevokeKeyRequest {
  'keyId'?: (string);
  'reason'?: (string);
  /**
   * Answer only once every live verifier rejects the key (or the fence times out). Default true.
   */
  'waitForVerifiers'?: (boolean);
  '_waitForVerifiers'?: "waitForVerifiers";
}

export interface RevokeKeyRequest__Output {
  'keyId': (string);
  'reason': (string);
  /**
   * Answer only once every live verifier rejects the key (or the fence times out). Default true.
   */
  'waitForVerifiers'?: (boolean);
  '_waitForVerifiers'?: "waitForVerifiers";
}
