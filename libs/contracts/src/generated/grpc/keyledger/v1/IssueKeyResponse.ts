// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { KeyView as _keyledger_v1_KeyView, KeyView__Output as _keyledger_v1_KeyView__Output } from '../../keyledger/v1/KeyView.js';

export interface IssueKeyResponse {
  'keyId'?: (string);
  /**
   * The plaintext key: returned once, here, and never again.
   */
  'key'?: (string);
  'view'?: (_keyledger_v1_KeyView | null);
}

export interface IssueKeyResponse__Output {
  'keyId': (string);
  /**
   * The plaintext key: returned once, here, and never again.
   */
  'key': (string);
  'view': (_keyledger_v1_KeyView__Output | null);
}
