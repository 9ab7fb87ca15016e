// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { Long } from '@grpc/proto-loader';

export interface RotationSource {
  /**
   * The caller's address as recorded; empty when the transport gave none.
   */
  'ip'?: (string);
  /**
   * Calls from the hour of the rotation on.
   */
  'calls'?: (number | string | Long);
  'invalid'?: (number | string | Long);
  /**
   * The last call from this address; unset for usage stored before it was recorded.
   */
  'lastSeenAt'?: (string);
  '_lastSeenAt'?: "lastSeenAt";
}

export interface RotationSource__Output {
  /**
   * The caller's address as recorded; empty when the transport gave none.
   */
  'ip': (string);
  /**
   * Calls from the hour of the rotation on.
   */
  'calls': (string);
  'invalid': (string);
  /**
   * The last call from this address; unset for usage stored before it was recorded.
   */
  'lastSeenAt'?: (string);
  '_lastSeenAt'?: "lastSeenAt";
}
