// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { Long } from '@grpc/proto-loader';

export interface UsageTotals {
  'calls'?: (number | string | Long);
  /**
   * Calls answered VALID.
   */
  'valid'?: (number | string | Long);
  /**
   * Calls answered with any other code.
   */
  'invalid'?: (number | string | Long);
  /**
   * Credits charged.
   */
  'cost'?: (number | string | Long);
}

export interface UsageTotals__Output {
  'calls': (string);
  /**
   * Calls answered VALID.
   */
  'valid': (string);
  /**
   * Calls answered with any other code.
   */
  'invalid': (string);
  /**
   * Credits charged.
   */
  'cost': (string);
}
