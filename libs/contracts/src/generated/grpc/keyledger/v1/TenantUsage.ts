// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { UsageTotals as _keyledger_v1_UsageTotals, UsageTotals__Output as _keyledger_v1_UsageTotals__Output } from '../../keyledger/v1/UsageTotals.js';
import type { KeyUsageSummary as _keyledger_v1_KeyUsageSummary, KeyUsageSummary__Output as _keyledger_v1_KeyUsageSummary__Output } from '../../keyledger/v1/KeyUsageSummary.js';
import type { SourceUsage as _keyledger_v1_SourceUsage, SourceUsage__Output as _keyledger_v1_SourceUsage__Output } from '../../keyledger/v1/SourceUsage.js';

export interface TenantUsage {
  'tenant'?: (string);
  'since'?: (string);
  'until'?: (string);
  'totals'?: (_keyledger_v1_UsageTotals | null);
  'topKeys'?: (_keyledger_v1_KeyUsageSummary)[];
  'topSources'?: (_keyledger_v1_SourceUsage)[];
}

export interface TenantUsage__Output {
  'tenant': (string);
  'since': (string);
  'until': (string);
  'totals': (_keyledger_v1_UsageTotals__Output | null);
  'topKeys': (_keyledger_v1_KeyUsageSummary__Output)[];
  'topSources': (_keyledger_v1_SourceUsage__Output)[];
}
