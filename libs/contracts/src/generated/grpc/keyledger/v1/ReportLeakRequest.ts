// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { LeakSource as _keyledger_v1_LeakSource, LeakSource__Output as _keyledger_v1_LeakSource__Output } from '../../keyledger/v1/LeakSource.js';

export interface ReportLeakRequest {
  /**
   * The leaked key's plaintext: reporting it needs keyledger:leaks:report or keyledger:keys:write.
   */
  'key'?: (string);
  /**
   * The leaked key's id: reporting by id needs keyledger:keys:write.
   */
  'keyId'?: (string);
  'source'?: (_keyledger_v1_LeakSource | null);
  'keyRef'?: "key"|"keyId";
}

export interface ReportLeakRequest__Output {
  /**
   * The leaked key's plaintext: reporting it needs keyledger:leaks:report or keyledger:keys:write.
   */
  'key'?: (string);
  /**
   * The leaked key's id: reporting by id needs keyledger:keys:write.
   */
  'keyId'?: (string);
  'source': (_keyledger_v1_LeakSource__Output | null);
  'keyRef'?: "key"|"keyId";
}
