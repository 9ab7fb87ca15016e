// Original file: libs/contracts/proto/keyledger/v1/verifier.proto


export interface VerifyRequest {
  /**
   * The presented key.
   */
  'key'?: (string);
  /**
   * The tenant the caller expects; a key of another tenant is NOT_FOUND.
   */
  'tenant'?: (string);
  /**
   * Scopes the call needs; the key must grant every one.
   */
  'scopes'?: (string)[];
  /**
   * The caller's IP address, checked against the key's allowlist: believed only from a client
   * inside the verifier's VERIFIER_TRUSTED_PROXIES; any other client is the caller itself.
   */
  'ip'?: (string);
  /**
   * The environment the caller expects: "live" or "test".
   */
  'env'?: (string);
  /**
   * Credits the call consumes from a key with a quota: 0 to 1000, default 1.
   */
  'cost'?: (number);
  '_tenant'?: "tenant";
  '_ip'?: "ip";
  '_env'?: "env";
  '_cost'?: "cost";
}

export interface VerifyRequest__Output {
  /**
   * The presented key.
   */
  'key': (string);
  /**
   * The tenant the caller expects; a key of another tenant is NOT_FOUND.
   */
  'tenant'?: (string);
  /**
   * Scopes the call needs; the key must grant every one.
   */
  'scopes': (string)[];
  /**
   * The caller's IP address, checked against the key's allowlist: believed only from a client
   * inside the verifier's VERIFIER_TRUSTED_PROXIES; any other client is the caller itself.
   */
  'ip'?: (string);
  /**
   * The environment the caller expects: "live" or "test".
   */
  'env'?: (string);
  /**
   * Credits the call consumes from a key with a quota: 0 to 1000, default 1.
   */
  'cost'?: (number);
  '_tenant'?: "tenant";
  '_ip'?: "ip";
  '_env'?: "env";
  '_cost'?: "cost";
}
