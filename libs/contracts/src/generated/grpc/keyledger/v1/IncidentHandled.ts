// Original file: libs/contracts/proto/keyledger/v1/keys.proto


/**
 * What the rotator did about an incident.
 */
export interface IncidentHandled {
  /**
   * "none", "notify", "suspend", "rotate", "emergency-rotate" or "revoke".
   */
  'action'?: (string);
  /**
   * Why the action is not the one the policy asks for ("admin-key", "key-revoked", "already-rotated", …).
   */
  'reason'?: (string);
  'replacedBy'?: (string);
  '_reason'?: "reason";
  '_replacedBy'?: "replacedBy";
}

/**
 * What the rotator did about an incident.
 */
export interface IncidentHandled__Output {
  /**
   * "none", "notify", "suspend", "rotate", "emergency-rotate" or "revoke".
   */
  'action': (string);
  /**
   * Why the action is not the one the policy asks for ("admin-key", "key-revoked", "already-rotated", …).
   */
  'reason'?: (string);
  'replacedBy'?: (string);
  '_reason'?: "reason";
  '_replacedBy'?: "replacedBy";
}
