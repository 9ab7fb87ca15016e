// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { KeyView as _keyledger_v1_KeyView, KeyView__Output as _keyledger_v1_KeyView__Output } from '../../keyledger/v1/KeyView.js';
import type { TrailEntry as _keyledger_v1_TrailEntry, TrailEntry__Output as _keyledger_v1_TrailEntry__Output } from '../../keyledger/v1/TrailEntry.js';

export interface KeyAt {
  'keyId'?: (string);
  'at'?: (string);
  /**
   * The key as it was then (status as of then); unset when it was not issued yet.
   */
  'key'?: (_keyledger_v1_KeyView | null);
  /**
   * The last event folded into it; unset when it was not issued yet.
   */
  'lastEvent'?: (_keyledger_v1_TrailEntry | null);
}

export interface KeyAt__Output {
  'keyId': (string);
  'at': (string);
  /**
   * The key as it was then (status as of then); unset when it was not issued yet.
   */
  'key': (_keyledger_v1_KeyView__Output | null);
  /**
   * The last event folded into it; unset when it was not issued yet.
   */
  'lastEvent': (_keyledger_v1_TrailEntry__Output | null);
}
