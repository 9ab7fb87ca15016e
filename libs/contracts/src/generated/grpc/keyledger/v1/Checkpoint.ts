// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface Checkpoint {
  'origin'?: (string);
  'treeSize'?: (number | string | Long);
  'rootHash'?: (string);
  'signedAt'?: (string);
  /**
   * The signed note (c2sp.org/tlog-checkpoint).
   */
  'note'?: (string);
}

export interface Checkpoint__Output {
  'origin': (string);
  'treeSize': (string);
  'rootHash': (string);
  'signedAt': (string);
  /**
   * The signed note (c2sp.org/tlog-checkpoint).
   */
  'note': (string);
}
