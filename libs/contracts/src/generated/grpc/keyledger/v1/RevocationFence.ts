// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { VerifierAcknowledgement as _keyledger_v1_VerifierAcknowledgement, VerifierAcknowledgement__Output as _keyledger_v1_VerifierAcknowledgement__Output } from '../../keyledger/v1/VerifierAcknowledgement.js';

export interface RevocationFence {
  /**
   * True when every live verifier applied the revocation before the timeout.
   */
  'complete'?: (boolean);
  'verifiers'?: (_keyledger_v1_VerifierAcknowledgement)[];
  'waitedMs'?: (number);
}

export interface RevocationFence__Output {
  /**
   * True when every live verifier applied the revocation before the timeout.
   */
  'complete': (boolean);
  'verifiers': (_keyledger_v1_VerifierAcknowledgement__Output)[];
  'waitedMs': (number);
}
