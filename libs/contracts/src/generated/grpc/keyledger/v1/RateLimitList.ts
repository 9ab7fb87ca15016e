// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { RateLimit as _keyledger_v1_RateLimit, RateLimit__Output as _keyledger_v1_RateLimit__Output } from '../../keyledger/v1/RateLimit.js';

export interface RateLimitList {
  'values'?: (_keyledger_v1_RateLimit)[];
}

export interface RateLimitList__Output {
  'values': (_keyledger_v1_RateLimit__Output)[];
}
