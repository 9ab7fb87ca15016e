// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { IncidentHandled as _keyledger_v1_IncidentHandled, IncidentHandled__Output as _keyledger_v1_IncidentHandled__Output } from '../../keyledger/v1/IncidentHandled.js';

export interface IncidentReport {
  /**
   * "REPORTED", "ALREADY_REPORTED" (that place was reported before), "NOT_FOUND" or "MALFORMED".
   */
  'outcome'?: (string);
  /**
   * Set when a key was found.
   */
  'keyId'?: (string);
  'tenant'?: (string);
  'owner'?: (string);
  'hint'?: (string);
  /**
   * The incident event's id.
   */
  'incidentId'?: (string);
  /**
   * What the rotator will do by the policy and the key's state now, until it has handled it.
   */
  'pendingAction'?: (string);
  /**
   * Set once the rotator has handled it.
   */
  'handled'?: (_keyledger_v1_IncidentHandled | null);
  /**
   * With a rotation (pending or done): how the new key reaches the owner, "nats" (sealed to its
   * registered public key) and "webhook"; empty: nobody holds the new key's plaintext.
   */
  'newKeyDelivery'?: (string)[];
  '_keyId'?: "keyId";
  '_tenant'?: "tenant";
  '_owner'?: "owner";
  '_hint'?: "hint";
  '_incidentId'?: "incidentId";
  '_pendingAction'?: "pendingAction";
}

export interface IncidentReport__Output {
  /**
   * "REPORTED", "ALREADY_REPORTED" (that place was reported before), "NOT_FOUND" or "MALFORMED".
   */
  'outcome': (string);
  /**
   * Set when a key was found.
   */
  'keyId'?: (string);
  'tenant'?: (string);
  'owner'?: (string);
  'hint'?: (string);
  /**
   * The incident event's id.
   */
  'incidentId'?: (string);
  /**
   * What the rotator will do by the policy and the key's state now, until it has handled it.
   */
  'pendingAction'?: (string);
  /**
   * Set once the rotator has handled it.
   */
  'handled': (_keyledger_v1_IncidentHandled__Output | null);
  /**
   * With a rotation (pending or done): how the new key reaches the owner, "nats" (sealed to its
   * registered public key) and "webhook"; empty: nobody holds the new key's plaintext.
   */
  'newKeyDelivery': (string)[];
  '_keyId'?: "keyId";
  '_tenant'?: "tenant";
  '_owner'?: "owner";
  '_hint'?: "hint";
  '_incidentId'?: "incidentId";
  '_pendingAction'?: "pendingAction";
}
