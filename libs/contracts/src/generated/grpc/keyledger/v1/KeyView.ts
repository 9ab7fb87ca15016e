// Original file: libs/contracts/proto/keyledger/v1/key-view.proto

import type { RateLimit as _keyledger_v1_RateLimit, RateLimit__Output as _keyledger_v1_RateLimit__Output } from '../../keyledger/v1/RateLimit.js';
import type { Credits as _keyledger_v1_Credits, Credits__Output as _keyledger_v1_Credits__Output } from '../../keyledger/v1/Credits.js';
import type { Rotation as _keyledger_v1_Rotation, Rotation__Output as _keyledger_v1_Rotation__Output } from '../../keyledger/v1/Rotation.js';

/**
 * A key as the API shows it: never its plaintext or digest.
 */
export interface KeyView {
  'keyId'?: (string);
  'tenant'?: (string);
  'owner'?: (string);
  'name'?: (string);
  /**
   * "live" or "test".
   */
  'environment'?: (string);
  /**
   * A display hint, e.g. "kl_live_…a1b2".
   */
  'hint'?: (string);
  /**
   * "active", "suspended", "revoked" or "expired".
   */
  'status'?: (string);
  'scopes'?: (string)[];
  'ipAllowlist'?: (string)[];
  /**
   * Unset when the key does not expire.
   */
  'expiresAt'?: (string);
  'metadata'?: ({[key: string]: string});
  /**
   * The number of events of the key.
   */
  'version'?: (number);
  'rateLimits'?: (_keyledger_v1_RateLimit)[];
  /**
   * Unset for a key without a quota.
   */
  'credits'?: (_keyledger_v1_Credits | null);
  /**
   * The key this one replaced, for a key issued by a rotation.
   */
  'rotatedFrom'?: (string);
  /**
   * Set once the key was rotated.
   */
  'rotation'?: (_keyledger_v1_Rotation | null);
  /**
   * When the key was first reported leaked (ISO 8601); unset for a key never reported.
   */
  'leakReportedAt'?: (string);
  /**
   * A honeytoken: issued never to be used; every verification of it is a critical anomaly.
   */
  'honeytoken'?: (boolean);
  '_name'?: "name";
  '_expiresAt'?: "expiresAt";
  '_rotatedFrom'?: "rotatedFrom";
  '_leakReportedAt'?: "leakReportedAt";
}

/**
 * A key as the API shows it: never its plaintext or digest.
 */
export interface KeyView__Output {
  'keyId': (string);
  'tenant': (string);
  'owner': (string);
  'name'?: (string);
  /**
   * "live" or "test".
   */
  'environment': (string);
  /**
   * A display hint, e.g. "kl_live_…a1b2".
   */
  'hint': (string);
  /**
   * "active", "suspended", "revoked" or "expired".
   */
  'status': (string);
  'scopes': (string)[];
  'ipAllowlist': (string)[];
  /**
   * Unset when the key does not expire.
   */
  'expiresAt'?: (string);
  'metadata': ({[key: string]: string});
  /**
   * The number of events of the key.
   */
  'version': (number);
  'rateLimits': (_keyledger_v1_RateLimit__Output)[];
  /**
   * Unset for a key without a quota.
   */
  'credits': (_keyledger_v1_Credits__Output | null);
  /**
   * The key this one replaced, for a key issued by a rotation.
   */
  'rotatedFrom'?: (string);
  /**
   * Set once the key was rotated.
   */
  'rotation': (_keyledger_v1_Rotation__Output | null);
  /**
   * When the key was first reported leaked (ISO 8601); unset for a key never reported.
   */
  'leakReportedAt'?: (string);
  /**
   * A honeytoken: issued never to be used; every verification of it is a critical anomaly.
   */
  'honeytoken': (boolean);
  '_name'?: "name";
  '_expiresAt'?: "expiresAt";
  '_rotatedFrom'?: "rotatedFrom";
  '_leakReportedAt'?: "leakReportedAt";
}
