// Original file: libs/contracts/proto/keyledger/v1/key-view.proto


/**
 * At most `limit` verifications per `window_ms` (1,000 ms to 31 days; fixed windows aligned to the epoch).
 */
export interface RateLimit {
  'limit'?: (number);
  'windowMs'?: (number);
}

/**
 * At most `limit` verifications per `window_ms` (1,000 ms to 31 days; fixed windows aligned to the epoch).
 */
export interface RateLimit__Output {
  'limit': (number);
  'windowMs': (number);
}
