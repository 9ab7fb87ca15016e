// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { UsageTotals as _keyledger_v1_UsageTotals, UsageTotals__Output as _keyledger_v1_UsageTotals__Output } from '../../keyledger/v1/UsageTotals.js';

export interface KeyUsageSummary {
  'keyId'?: (string);
  'totals'?: (_keyledger_v1_UsageTotals | null);
  'lastUsedAt'?: (string);
  '_lastUsedAt'?: "lastUsedAt";
}

export interface KeyUsageSummary__Output {
  'keyId': (string);
  'totals': (_keyledger_v1_UsageTotals__Output | null);
  'lastUsedAt'?: (string);
  '_lastUsedAt'?: "lastUsedAt";
}
