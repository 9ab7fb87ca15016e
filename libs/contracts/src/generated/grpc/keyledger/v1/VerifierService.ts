// Original file: libs/contracts/proto/keyledger/v1/verifier.proto

import type { MethodDefinition } from '@grpc/proto-loader'
import type { VerifyRequest as _keyledger_v1_VerifyRequest, VerifyRequest__Output as _keyledger_v1_VerifyRequest__Output } from '../../keyledger/v1/VerifyRequest.js';
import type { VerifyResponse as _keyledger_v1_VerifyResponse, VerifyResponse__Output as _keyledger_v1_VerifyResponse__Output } from '../../keyledger/v1/VerifyResponse.js';

export interface VerifierServiceDefinition {
  Verify: MethodDefinition<_keyledger_v1_VerifyRequest, _keyledger_v1_VerifyResponse, _keyledger_v1_VerifyRequest__Output, _keyledger_v1_VerifyResponse__Output>
}
