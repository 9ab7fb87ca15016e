// Original file: libs/contracts/proto/keyledger/v1/usage.proto


export interface GraceEnded {
  /**
   * When the grace ended (the old key is expired from then on).
   */
  'at'?: (string);
  /**
   * "quiet": the old key was unused for the quiet period.
   */
  'reason'?: (string);
  /**
   * The old key's last use the decision saw; unset: never used.
   */
  'lastUsedAt'?: (string);
  '_lastUsedAt'?: "lastUsedAt";
}

export interface GraceEnded__Output {
  /**
   * When the grace ended (the old key is expired from then on).
   */
  'at': (string);
  /**
   * "quiet": the old key was unused for the quiet period.
   */
  'reason': (string);
  /**
   * The old key's last use the decision saw; unset: never used.
   */
  'lastUsedAt'?: (string);
  '_lastUsedAt'?: "lastUsedAt";
}
