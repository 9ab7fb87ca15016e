// Original file: libs/contracts/proto/keyledger/v1/audit.proto


export interface GetCheckpointRequest {
  /**
   * First bring the tree up to the store and sign a checkpoint if it grew.
   */
  'refresh'?: (boolean);
}

export interface GetCheckpointRequest__Output {
  /**
   * First bring the tree up to the store and sign a checkpoint if it grew.
   */
  'refresh': (boolean);
}
