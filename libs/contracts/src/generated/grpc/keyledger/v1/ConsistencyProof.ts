// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface ConsistencyProof {
  'oldSize'?: (number | string | Long);
  'newSize'?: (number | string | Long);
  'proof'?: (string)[];
  /**
   * The signed checkpoints of those sizes, when the log signed one of that size.
   */
  'oldCheckpoint'?: (string);
  'newCheckpoint'?: (string);
  '_oldCheckpoint'?: "oldCheckpoint";
  '_newCheckpoint'?: "newCheckpoint";
}

export interface ConsistencyProof__Output {
  'oldSize': (string);
  'newSize': (string);
  'proof': (string)[];
  /**
   * The signed checkpoints of those sizes, when the log signed one of that size.
   */
  'oldCheckpoint'?: (string);
  'newCheckpoint'?: (string);
  '_oldCheckpoint'?: "oldCheckpoint";
  '_newCheckpoint'?: "newCheckpoint";
}
