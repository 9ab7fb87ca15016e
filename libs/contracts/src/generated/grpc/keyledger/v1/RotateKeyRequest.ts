// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { StringList as _keyledger_v1_StringList, StringList__Output as _keyledger_v1_StringList__Output } from '../../keyledger/v1/StringList.js';
import type { Metadata as _keyledger_v1_Metadata, Metadata__Output as _keyledger_v1_Metadata__Output } from '../../keyledger/v1/Metadata.js';
import type { RateLimitList as _keyledger_v1_RateLimitList, RateLimitList__Output as _keyledger_v1_RateLimitList__Output } from '../../keyledger/v1/RateLimitList.js';
import type { Credits as _keyledger_v1_Credits, Credits__Output as _keyledger_v1_Credits__Output } from '../../keyledger/v1/Credits.js';
import type { Long } from '@grpc/proto-loader';

/**
 * Settings left unset are copied from the old key (its quota with the balance it has left).
 */
export interface RotateKeyRequest {
  'keyId'?: (string);
  /**
   * Unset: the installation's default grace (KEYLEDGER_ROTATION_GRACE_MS).
   */
  'graceMs'?: (number | string | Long);
  /**
   * Revoke the old key at once (no grace).
   */
  'emergency'?: (boolean);
  /**
   * With emergency: answer only once every live verifier rejects the old key. Default true.
   */
  'waitForVerifiers'?: (boolean);
  'name'?: (string);
  'scopes'?: (_keyledger_v1_StringList | null);
  'ipAllowlist'?: (_keyledger_v1_StringList | null);
  'metadata'?: (_keyledger_v1_Metadata | null);
  'expiresAt'?: (string);
  'removeExpiry'?: (boolean);
  'rateLimits'?: (_keyledger_v1_RateLimitList | null);
  'credits'?: (_keyledger_v1_Credits | null);
  'removeCredits'?: (boolean);
  'quietPeriodMs'?: (number | string | Long);
  'noQuietPeriod'?: (boolean);
  '_graceMs'?: "graceMs";
  '_waitForVerifiers'?: "waitForVerifiers";
  '_name'?: "name";
  'expiry'?: "expiresAt"|"removeExpiry";
  'creditsChange'?: "credits"|"removeCredits";
  /**
   * End the old key's grace early once it is unused this long (ms, at least 1000). Unset: the
   * rotation policy's quiet period; no_quiet_period: none (the grace runs its full length).
   */
  'quiet'?: "quietPeriodMs"|"noQuietPeriod";
}

/**
 * Settings left unset are copied from the old key (its quota with the balance it has left).
 */
export interface RotateKeyRequest__Output {
  'keyId': (string);
  /**
   * Unset: the installation's default grace (KEYLEDGER_ROTATION_GRACE_MS).
   */
  'graceMs'?: (string);
  /**
   * Revoke the old key at once (no grace).
   */
  'emergency': (boolean);
  /**
   * With emergency: answer only once every live verifier rejects the old key. Default true.
   */
  'waitForVerifiers'?: (boolean);
  'name'?: (string);
  'scopes': (_keyledger_v1_StringList__Output | null);
  'ipAllowlist': (_keyledger_v1_StringList__Output | null);
  'metadata': (_keyledger_v1_Metadata__Output | null);
  'expiresAt'?: (string);
  'removeExpiry'?: (boolean);
  'rateLimits': (_keyledger_v1_RateLimitList__Output | null);
  'credits'?: (_keyledger_v1_Credits__Output | null);
  'removeCredits'?: (boolean);
  'quietPeriodMs'?: (string);
  'noQuietPeriod'?: (boolean);
  '_graceMs'?: "graceMs";
  '_waitForVerifiers'?: "waitForVerifiers";
  '_name'?: "name";
  'expiry'?: "expiresAt"|"removeExpiry";
  'creditsChange'?: "credits"|"removeCredits";
  /**
   * End the old key's grace early once it is unused this long (ms, at least 1000). Unset: the
   * rotation policy's quiet period; no_quiet_period: none (the grace runs its full length).
   */
  'quiet'?: "quietPeriodMs"|"noQuietPeriod";
}
