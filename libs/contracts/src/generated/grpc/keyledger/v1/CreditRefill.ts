// Original file: libs/contracts/proto/keyledger/v1/key-view.proto


/**
 * At each refill boundary (UTC midnight for "daily"; 00:00 UTC on day_of_month, default 1,
 * for "monthly") the balance becomes `amount`.
 */
export interface CreditRefill {
  'amount'?: (number);
  /**
   * "daily" or "monthly".
   */
  'interval'?: (string);
  /**
   * 1 to 28; only with "monthly".
   */
  'dayOfMonth'?: (number);
  '_dayOfMonth'?: "dayOfMonth";
}

/**
 * At each refill boundary (UTC midnight for "daily"; 00:00 UTC on day_of_month, default 1,
 * for "monthly") the balance becomes `amount`.
 */
export interface CreditRefill__Output {
  'amount': (number);
  /**
   * "daily" or "monthly".
   */
  'interval': (string);
  /**
   * 1 to 28; only with "monthly".
   */
  'dayOfMonth'?: (number);
  '_dayOfMonth'?: "dayOfMonth";
}
