// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { UsageTotals as _keyledger_v1_UsageTotals, UsageTotals__Output as _keyledger_v1_UsageTotals__Output } from '../../keyledger/v1/UsageTotals.js';
import type { Long } from '@grpc/proto-loader';

export interface UsageBucket {
  /**
   * Start of the minute, hour or day (UTC).
   */
  'start'?: (string);
  'totals'?: (_keyledger_v1_UsageTotals | null);
  /**
   * Calls by verify code (VALID, NOT_FOUND, RATE_LIMITED, …), only the codes that occurred.
   */
  'codes'?: ({[key: string]: number | string | Long});
}

export interface UsageBucket__Output {
  /**
   * Start of the minute, hour or day (UTC).
   */
  'start': (string);
  'totals': (_keyledger_v1_UsageTotals__Output | null);
  /**
   * Calls by verify code (VALID, NOT_FOUND, RATE_LIMITED, …), only the codes that occurred.
   */
  'codes': ({[key: string]: string});
}
