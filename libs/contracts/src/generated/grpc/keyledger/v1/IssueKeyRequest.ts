// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { RateLimit as _keyledger_v1_RateLimit, RateLimit__Output as _keyledger_v1_RateLimit__Output } from '../../keyledger/v1/RateLimit.js';
import type { Credits as _keyledger_v1_Credits, Credits__Output as _keyledger_v1_Credits__Output } from '../../keyledger/v1/Credits.js';

export interface IssueKeyRequest {
  'tenant'?: (string);
  'owner'?: (string);
  'name'?: (string);
  /**
   * "live" (the default) or "test".
   */
  'environment'?: (string);
  'scopes'?: (string)[];
  /**
   * Addresses and CIDR ranges the key may be used from; empty: anywhere.
   */
  'ipAllowlist'?: (string)[];
  'expiresAt'?: (string);
  'metadata'?: ({[key: string]: string});
  /**
   * At most one per window length, at most five.
   */
  'rateLimits'?: (_keyledger_v1_RateLimit)[];
  /**
   * A quota; unset: none.
   */
  'credits'?: (_keyledger_v1_Credits | null);
  /**
   * A honeytoken: a key never to be used, whose every verification answers NOT_FOUND and is
   * reported as a critical anomaly (detector "honeytoken").
   */
  'honeytoken'?: (boolean);
  '_name'?: "name";
  '_environment'?: "environment";
  '_expiresAt'?: "expiresAt";
}

export interface IssueKeyRequest__Output {
  'tenant': (string);
  'owner': (string);
  'name'?: (string);
  /**
   * "live" (the default) or "test".
   */
  'environment'?: (string);
  'scopes': (string)[];
  /**
   * Addresses and CIDR ranges the key may be used from; empty: anywhere.
   */
  'ipAllowlist': (string)[];
  'expiresAt'?: (string);
  'metadata': ({[key: string]: string});
  /**
   * At most one per window length, at most five.
   */
  'rateLimits': (_keyledger_v1_RateLimit__Output)[];
  /**
   * A quota; unset: none.
   */
  'credits': (_keyledger_v1_Credits__Output | null);
  /**
   * A honeytoken: a key never to be used, whose every verification answers NOT_FOUND and is
   * reported as a critical anomaly (detector "honeytoken").
   */
  'honeytoken': (boolean);
  '_name'?: "name";
  '_environment'?: "environment";
  '_expiresAt'?: "expiresAt";
}
