// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { ReportUsageWindow as _keyledger_v1_ReportUsageWindow, ReportUsageWindow__Output as _keyledger_v1_ReportUsageWindow__Output } from '../../keyledger/v1/ReportUsageWindow.js';
import type { PermissionFinding as _keyledger_v1_PermissionFinding, PermissionFinding__Output as _keyledger_v1_PermissionFinding__Output } from '../../keyledger/v1/PermissionFinding.js';

export interface PermissionReport {
  'generatedAt'?: (string);
  /**
   * The tenant reported on; unset for every tenant (a root admin's report).
   */
  'tenant'?: (string);
  'unusedDays'?: (number);
  'staleSuspendedDays'?: (number);
  'usage'?: (_keyledger_v1_ReportUsageWindow | null);
  'findings'?: (_keyledger_v1_PermissionFinding)[];
  '_tenant'?: "tenant";
}

export interface PermissionReport__Output {
  'generatedAt': (string);
  /**
   * The tenant reported on; unset for every tenant (a root admin's report).
   */
  'tenant'?: (string);
  'unusedDays': (number);
  'staleSuspendedDays': (number);
  'usage': (_keyledger_v1_ReportUsageWindow__Output | null);
  'findings': (_keyledger_v1_PermissionFinding__Output)[];
  '_tenant'?: "tenant";
}
