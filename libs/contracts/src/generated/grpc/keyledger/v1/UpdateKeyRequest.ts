// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { StringList as _keyledger_v1_StringList, StringList__Output as _keyledger_v1_StringList__Output } from '../../keyledger/v1/StringList.js';
import type { Metadata as _keyledger_v1_Metadata, Metadata__Output as _keyledger_v1_Metadata__Output } from '../../keyledger/v1/Metadata.js';
import type { RateLimitList as _keyledger_v1_RateLimitList, RateLimitList__Output as _keyledger_v1_RateLimitList__Output } from '../../keyledger/v1/RateLimitList.js';
import type { Credits as _keyledger_v1_Credits, Credits__Output as _keyledger_v1_Credits__Output } from '../../keyledger/v1/Credits.js';

/**
 * Changes only the fields that are set.
 */
export interface UpdateKeyRequest {
  'keyId'?: (string);
  'name'?: (string);
  /**
   * Replaces the scopes (an empty list removes them all).
   */
  'scopes'?: (_keyledger_v1_StringList | null);
  /**
   * Replaces the IP allowlist (an empty list allows every address).
   */
  'ipAllowlist'?: (_keyledger_v1_StringList | null);
  /**
   * Replaces the metadata.
   */
  'metadata'?: (_keyledger_v1_Metadata | null);
  /**
   * A new expiry.
   */
  'expiresAt'?: (string);
  /**
   * true: the key no longer expires.
   */
  'removeExpiry'?: (boolean);
  /**
   * Replaces the rate limits (an empty list removes them).
   */
  'rateLimits'?: (_keyledger_v1_RateLimitList | null);
  /**
   * Sets the quota and the balance of the current period.
   */
  'credits'?: (_keyledger_v1_Credits | null);
  /**
   * true: the key no longer has a quota.
   */
  'removeCredits'?: (boolean);
  '_name'?: "name";
  'expiry'?: "expiresAt"|"removeExpiry";
  'creditsChange'?: "credits"|"removeCredits";
}

/**
 * Changes only the fields that are set.
 */
export interface UpdateKeyRequest__Output {
  'keyId': (string);
  'name'?: (string);
  /**
   * Replaces the scopes (an empty list removes them all).
   */
  'scopes': (_keyledger_v1_StringList__Output | null);
  /**
   * Replaces the IP allowlist (an empty list allows every address).
   */
  'ipAllowlist': (_keyledger_v1_StringList__Output | null);
  /**
   * Replaces the metadata.
   */
  'metadata': (_keyledger_v1_Metadata__Output | null);
  /**
   * A new expiry.
   */
  'expiresAt'?: (string);
  /**
   * true: the key no longer expires.
   */
  'removeExpiry'?: (boolean);
  /**
   * Replaces the rate limits (an empty list removes them).
   */
  'rateLimits': (_keyledger_v1_RateLimitList__Output | null);
  /**
   * Sets the quota and the balance of the current period.
   */
  'credits'?: (_keyledger_v1_Credits__Output | null);
  /**
   * true: the key no longer has a quota.
   */
  'removeCredits'?: (boolean);
  '_name'?: "name";
  'expiry'?: "expiresAt"|"removeExpiry";
  'creditsChange'?: "credits"|"removeCredits";
}
