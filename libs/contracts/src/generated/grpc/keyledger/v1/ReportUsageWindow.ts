// Original file: libs/contracts/proto/keyledger/v1/audit.proto


/**
 * How far back the usage the findings rest on goes.
 */
export interface ReportUsageWindow {
  /**
   * Start of the unused-days window.
   */
  'since'?: (string);
  /**
   * The oldest usage still kept.
   */
  'retainedSince'?: (string);
  /**
   * False when the window starts before retention.
   */
  'complete'?: (boolean);
}

/**
 * How far back the usage the findings rest on goes.
 */
export interface ReportUsageWindow__Output {
  /**
   * Start of the unused-days window.
   */
  'since': (string);
  /**
   * The oldest usage still kept.
   */
  'retainedSince': (string);
  /**
   * False when the window starts before retention.
   */
  'complete': (boolean);
}
