// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { UsageTotals as _keyledger_v1_UsageTotals, UsageTotals__Output as _keyledger_v1_UsageTotals__Output } from '../../keyledger/v1/UsageTotals.js';
import type { UsageBucket as _keyledger_v1_UsageBucket, UsageBucket__Output as _keyledger_v1_UsageBucket__Output } from '../../keyledger/v1/UsageBucket.js';
import type { SourceUsage as _keyledger_v1_SourceUsage, SourceUsage__Output as _keyledger_v1_SourceUsage__Output } from '../../keyledger/v1/SourceUsage.js';

export interface KeyUsage {
  'keyId'?: (string);
  'tenant'?: (string);
  'since'?: (string);
  'until'?: (string);
  'by'?: (string);
  'totals'?: (_keyledger_v1_UsageTotals | null);
  /**
   * The buckets of the window that had calls, oldest first.
   */
  'buckets'?: (_keyledger_v1_UsageBucket)[];
  /**
   * When the key was last verified, whatever the window; unset if never.
   */
  'lastUsedAt'?: (string);
  'topSources'?: (_keyledger_v1_SourceUsage)[];
  '_tenant'?: "tenant";
  '_lastUsedAt'?: "lastUsedAt";
}

export interface KeyUsage__Output {
  'keyId': (string);
  'tenant'?: (string);
  'since': (string);
  'until': (string);
  'by': (string);
  'totals': (_keyledger_v1_UsageTotals__Output | null);
  /**
   * The buckets of the window that had calls, oldest first.
   */
  'buckets': (_keyledger_v1_UsageBucket__Output)[];
  /**
   * When the key was last verified, whatever the window; unset if never.
   */
  'lastUsedAt'?: (string);
  'topSources': (_keyledger_v1_SourceUsage__Output)[];
  '_tenant'?: "tenant";
  '_lastUsedAt'?: "lastUsedAt";
}
