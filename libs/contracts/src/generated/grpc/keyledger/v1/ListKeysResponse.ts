// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { KeyView as _keyledger_v1_KeyView, KeyView__Output as _keyledger_v1_KeyView__Output } from '../../keyledger/v1/KeyView.js';

export interface ListKeysResponse {
  'keys'?: (_keyledger_v1_KeyView)[];
  /**
   * Set when more keys follow: pass it as cursor.
   */
  'nextCursor'?: (string);
}

export interface ListKeysResponse__Output {
  'keys': (_keyledger_v1_KeyView__Output)[];
  /**
   * Set when more keys follow: pass it as cursor.
   */
  'nextCursor': (string);
}
