// Original file: libs/contracts/proto/keyledger/v1/audit.proto


export interface GetPermissionReportRequest {
  /**
   * Unset: the caller's own tenant (every tenant for an admin of the root tenant).
   */
  'tenant'?: (string);
  /**
   * 1 to 3650; default 90.
   */
  'unusedDays'?: (number);
  /**
   * 1 to 3650; default 30.
   */
  'staleSuspendedDays'?: (number);
  '_tenant'?: "tenant";
  '_unusedDays'?: "unusedDays";
  '_staleSuspendedDays'?: "staleSuspendedDays";
}

export interface GetPermissionReportRequest__Output {
  /**
   * Unset: the caller's own tenant (every tenant for an admin of the root tenant).
   */
  'tenant'?: (string);
  /**
   * 1 to 3650; default 90.
   */
  'unusedDays'?: (number);
  /**
   * 1 to 3650; default 30.
   */
  'staleSuspendedDays'?: (number);
  '_tenant'?: "tenant";
  '_unusedDays'?: "unusedDays";
  '_staleSuspendedDays'?: "staleSuspendedDays";
}
