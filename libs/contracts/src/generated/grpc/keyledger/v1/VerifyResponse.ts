// Original file: libs/contracts/proto/keyledger/v1/verifier.proto


export interface VerifyResponse {
  'valid'?: (boolean);
  /**
   * VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN,
   * INSUFFICIENT_PERMISSIONS, RATE_LIMITED, USAGE_EXCEEDED, UNAVAILABLE or DENIED.
   */
  'code'?: (string);
  /**
   * The fields below are set when the key was found (whatever the code).
   */
  'keyId'?: (string);
  'tenant'?: (string);
  'owner'?: (string);
  'scopes'?: (string)[];
  'env'?: (string);
  /**
   * ISO 8601; unset when the key does not expire.
   */
  'expiresAt'?: (string);
  'meta'?: ({[key: string]: string});
  /**
   * With RATE_LIMITED: when the exhausted window ends (ISO 8601).
   */
  'reset'?: (string);
  /**
   * For a key with a quota: the credits left after this call, as far as this verifier knows.
   */
  'remaining'?: (number);
  /**
   * With FORBIDDEN: the key's restriction the request did not meet, "ip" (its allowlist) or "environment".
   */
  'reason'?: (string);
  '_keyId'?: "keyId";
  '_tenant'?: "tenant";
  '_owner'?: "owner";
  '_env'?: "env";
  '_expiresAt'?: "expiresAt";
  '_reset'?: "reset";
  '_remaining'?: "remaining";
  '_reason'?: "reason";
}

export interface VerifyResponse__Output {
  'valid': (boolean);
  /**
   * VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN,
   * INSUFFICIENT_PERMISSIONS, RATE_LIMITED, USAGE_EXCEEDED, UNAVAILABLE or DENIED.
   */
  'code': (string);
  /**
   * The fields below are set when the key was found (whatever the code).
   */
  'keyId'?: (string);
  'tenant'?: (string);
  'owner'?: (string);
  'scopes': (string)[];
  'env'?: (string);
  /**
   * ISO 8601; unset when the key does not expire.
   */
  'expiresAt'?: (string);
  'meta': ({[key: string]: string});
  /**
   * With RATE_LIMITED: when the exhausted window ends (ISO 8601).
   */
  'reset'?: (string);
  /**
   * For a key with a quota: the credits left after this call, as far as this verifier knows.
   */
  'remaining'?: (number);
  /**
   * With FORBIDDEN: the key's restriction the request did not meet, "ip" (its allowlist) or "environment".
   */
  'reason'?: (string);
  '_keyId'?: "keyId";
  '_tenant'?: "tenant";
  '_owner'?: "owner";
  '_env'?: "env";
  '_expiresAt'?: "expiresAt";
  '_reset'?: "reset";
  '_remaining'?: "remaining";
  '_reason'?: "reason";
}
