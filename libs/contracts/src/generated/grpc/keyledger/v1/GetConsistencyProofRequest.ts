// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface GetConsistencyProofRequest {
  /**
   * Both are required; old_size at most new_size, new_size at most the latest checkpoint's.
   */
  'oldSize'?: (number | string | Long);
  'newSize'?: (number | string | Long);
  '_oldSize'?: "oldSize";
  '_newSize'?: "newSize";
}

export interface GetConsistencyProofRequest__Output {
  /**
   * Both are required; old_size at most new_size, new_size at most the latest checkpoint's.
   */
  'oldSize'?: (string);
  'newSize'?: (string);
  '_oldSize'?: "oldSize";
  '_newSize'?: "newSize";
}
