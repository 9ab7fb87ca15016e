// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { TrailSearchEntry as _keyledger_v1_TrailSearchEntry, TrailSearchEntry__Output as _keyledger_v1_TrailSearchEntry__Output } from '../../keyledger/v1/TrailSearchEntry.js';

export interface TrailPage {
  'events'?: (_keyledger_v1_TrailSearchEntry)[];
  /**
   * Set when more events may follow: pass it as `cursor`.
   */
  'nextCursor'?: (string);
  '_nextCursor'?: "nextCursor";
}

export interface TrailPage__Output {
  'events': (_keyledger_v1_TrailSearchEntry__Output)[];
  /**
   * Set when more events may follow: pass it as `cursor`.
   */
  'nextCursor'?: (string);
  '_nextCursor'?: "nextCursor";
}
