// Original file: libs/contracts/proto/keyledger/v1/key-view.proto

import type { CreditRefill as _keyledger_v1_CreditRefill, CreditRefill__Output as _keyledger_v1_CreditRefill__Output } from '../../keyledger/v1/CreditRefill.js';

/**
 * A key's quota: in a request, the balance to set for the current period; in a KeyView, the
 * balance now, as of the consumption the verifiers have flushed.
 */
export interface Credits {
  'remaining'?: (number);
  'refill'?: (_keyledger_v1_CreditRefill | null);
}

/**
 * A key's quota: in a request, the balance to set for the current period; in a KeyView, the
 * balance now, as of the consumption the verifiers have flushed.
 */
export interface Credits__Output {
  'remaining': (number);
  'refill': (_keyledger_v1_CreditRefill__Output | null);
}
