// Original file: libs/contracts/proto/keyledger/v1/keys.proto


export interface VerifierAcknowledgement {
  /**
   * The verifier replica.
   */
  'instance'?: (string);
  /**
   * Whether it applied the revocation before the answer.
   */
  'applied'?: (boolean);
}

export interface VerifierAcknowledgement__Output {
  /**
   * The verifier replica.
   */
  'instance': (string);
  /**
   * Whether it applied the revocation before the answer.
   */
  'applied': (boolean);
}
