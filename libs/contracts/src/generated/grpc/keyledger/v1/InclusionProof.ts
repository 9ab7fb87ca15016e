// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface InclusionProof {
  'eventId'?: (string);
  'position'?: (string);
  'leafIndex'?: (number | string | Long);
  'treeSize'?: (number | string | Long);
  'leafHash'?: (string);
  'proof'?: (string)[];
  /**
   * The signed checkpoint the proof leads to.
   */
  'checkpoint'?: (string);
}

export interface InclusionProof__Output {
  'eventId': (string);
  'position': (string);
  'leafIndex': (string);
  'treeSize': (string);
  'leafHash': (string);
  'proof': (string)[];
  /**
   * The signed checkpoint the proof leads to.
   */
  'checkpoint': (string);
}
