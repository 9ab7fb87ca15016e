// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { KeyView as _keyledger_v1_KeyView, KeyView__Output as _keyledger_v1_KeyView__Output } from '../../keyledger/v1/KeyView.js';
import type { RevocationFence as _keyledger_v1_RevocationFence, RevocationFence__Output as _keyledger_v1_RevocationFence__Output } from '../../keyledger/v1/RevocationFence.js';

export interface RotateKeyResponse {
  /**
   * The new key's id and plaintext: returned once, here, and never again.
   */
  'keyId'?: (string);
  'key'?: (string);
  'view'?: (_keyledger_v1_KeyView | null);
  /**
   * The old key as it is now.
   */
  'previous'?: (_keyledger_v1_KeyView | null);
  /**
   * Unset unless an emergency rotation waited for the verifiers.
   */
  'fence'?: (_keyledger_v1_RevocationFence | null);
}

export interface RotateKeyResponse__Output {
  /**
   * The new key's id and plaintext: returned once, here, and never again.
   */
  'keyId': (string);
  'key': (string);
  'view': (_keyledger_v1_KeyView__Output | null);
  /**
   * The old key as it is now.
   */
  'previous': (_keyledger_v1_KeyView__Output | null);
  /**
   * Unset unless an emergency rotation waited for the verifiers.
   */
  'fence': (_keyledger_v1_RevocationFence__Output | null);
}
