// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { TrailEntry as _keyledger_v1_TrailEntry, TrailEntry__Output as _keyledger_v1_TrailEntry__Output } from '../../keyledger/v1/TrailEntry.js';

export interface KeyTrail {
  'keyId'?: (string);
  'tenant'?: (string);
  'events'?: (_keyledger_v1_TrailEntry)[];
}

export interface KeyTrail__Output {
  'keyId': (string);
  'tenant': (string);
  'events': (_keyledger_v1_TrailEntry__Output)[];
}
