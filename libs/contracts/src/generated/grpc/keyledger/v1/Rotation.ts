// Original file: libs/contracts/proto/keyledger/v1/key-view.proto


export interface Rotation {
  'replacedBy'?: (string);
  /**
   * From then on the key is expired.
   */
  'graceEndsAt'?: (string);
  /**
   * The key was revoked by an emergency rotation.
   */
  'emergency'?: (boolean);
}

export interface Rotation__Output {
  'replacedBy': (string);
  /**
   * From then on the key is expired.
   */
  'graceEndsAt': (string);
  /**
   * The key was revoked by an emergency rotation.
   */
  'emergency': (boolean);
}
