// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface GetInclusionProofRequest {
  'eventId'?: (string);
  'position'?: (string);
  /**
   * A stored checkpoint's size; unset: the latest (signed anew if it does not cover the event yet).
   */
  'treeSize'?: (number | string | Long);
  /**
   * The event, by id or by position: exactly one.
   */
  'event'?: "eventId"|"position";
  '_treeSize'?: "treeSize";
}

export interface GetInclusionProofRequest__Output {
  'eventId'?: (string);
  'position'?: (string);
  /**
   * A stored checkpoint's size; unset: the latest (signed anew if it does not cover the event yet).
   */
  'treeSize'?: (string);
  /**
   * The event, by id or by position: exactly one.
   */
  'event'?: "eventId"|"position";
  '_treeSize'?: "treeSize";
}
