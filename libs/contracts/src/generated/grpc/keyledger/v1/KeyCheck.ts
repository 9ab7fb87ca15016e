// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { TrailEntry as _keyledger_v1_TrailEntry, TrailEntry__Output as _keyledger_v1_TrailEntry__Output } from '../../keyledger/v1/TrailEntry.js';

export interface KeyCheck {
  'keyId'?: (string);
  'at'?: (string);
  'valid'?: (boolean);
  /**
   * The code a verifier would have answered by the key's rules (rate limits and quotas aside):
   * VALID, REVOKED, DISABLED, EXPIRED, FORBIDDEN, INSUFFICIENT_PERMISSIONS, NOT_FOUND, …
   */
  'code'?: (string);
  /**
   * Why, in words: "revoked at …, by event …".
   */
  'reason'?: (string);
  /**
   * The event that set what decided it; unset for a key not issued yet.
   */
  'decidedBy'?: (_keyledger_v1_TrailEntry | null);
}

export interface KeyCheck__Output {
  'keyId': (string);
  'at': (string);
  'valid': (boolean);
  /**
   * The code a verifier would have answered by the key's rules (rate limits and quotas aside):
   * VALID, REVOKED, DISABLED, EXPIRED, FORBIDDEN, INSUFFICIENT_PERMISSIONS, NOT_FOUND, …
   */
  'code': (string);
  /**
   * Why, in words: "revoked at …, by event …".
   */
  'reason': (string);
  /**
   * The event that set what decided it; unset for a key not issued yet.
   */
  'decidedBy': (_keyledger_v1_TrailEntry__Output | null);
}
