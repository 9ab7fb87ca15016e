// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { KeyView as _keyledger_v1_KeyView, KeyView__Output as _keyledger_v1_KeyView__Output } from '../../keyledger/v1/KeyView.js';
import type { RevocationFence as _keyledger_v1_RevocationFence, RevocationFence__Output as _keyledger_v1_RevocationFence__Output } from '../../keyledger/v1/RevocationFence.js';

export interface RevokeKeyResponse {
  'view'?: (_keyledger_v1_KeyView | null);
  /**
   * Unset when the revocation did not wait for the verifiers.
   */
  'fence'?: (_keyledger_v1_RevocationFence | null);
}

export interface RevokeKeyResponse__Output {
  'view': (_keyledger_v1_KeyView__Output | null);
  /**
   * Unset when the revocation did not wait for the verifiers.
   */
  'fence': (_keyledger_v1_RevocationFence__Output | null);
}
