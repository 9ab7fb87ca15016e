// Original file: libs/contracts/proto/keyledger/v1/audit.proto


export interface CheckKeyAtRequest {
  'keyId'?: (string);
  'at'?: (string);
  /**
   * The scopes the verification asks for (none: no scope check).
   */
  'scopes'?: (string)[];
  /**
   * The caller's address, for the key's IP allowlist.
   */
  'ip'?: (string);
  /**
   * "live" or "test".
   */
  'env'?: (string);
  '_ip'?: "ip";
  '_env'?: "env";
}

export interface CheckKeyAtRequest__Output {
  'keyId': (string);
  'at': (string);
  /**
   * The scopes the verification asks for (none: no scope check).
   */
  'scopes': (string)[];
  /**
   * The caller's address, for the key's IP allowlist.
   */
  'ip'?: (string);
  /**
   * "live" or "test".
   */
  'env'?: (string);
  '_ip'?: "ip";
  '_env'?: "env";
}
