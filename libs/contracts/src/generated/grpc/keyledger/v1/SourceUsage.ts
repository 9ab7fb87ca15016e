// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { Long } from '@grpc/proto-loader';

export interface SourceUsage {
  /**
   * The caller's address as recorded; empty when the transport gave none.
   */
  'ip'?: (string);
  'calls'?: (number | string | Long);
  'invalid'?: (number | string | Long);
}

export interface SourceUsage__Output {
  /**
   * The caller's address as recorded; empty when the transport gave none.
   */
  'ip': (string);
  'calls': (string);
  'invalid': (string);
}
