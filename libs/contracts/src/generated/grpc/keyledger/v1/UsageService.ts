// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { MethodDefinition } from '@grpc/proto-loader'
import type { KeyUsage as _keyledger_v1_KeyUsage, KeyUsage__Output as _keyledger_v1_KeyUsage__Output } from '../../keyledger/v1/KeyUsage.js';
import type { KeyUsageRequest as _keyledger_v1_KeyUsageRequest, KeyUsageRequest__Output as _keyledger_v1_KeyUsageRequest__Output } from '../../keyledger/v1/KeyUsageRequest.js';
import type { RotationUsage as _keyledger_v1_RotationUsage, RotationUsage__Output as _keyledger_v1_RotationUsage__Output } from '../../keyledger/v1/RotationUsage.js';
import type { RotationUsageRequest as _keyledger_v1_RotationUsageRequest, RotationUsageRequest__Output as _keyledger_v1_RotationUsageRequest__Output } from '../../keyledger/v1/RotationUsageRequest.js';
import type { TenantUsage as _keyledger_v1_TenantUsage, TenantUsage__Output as _keyledger_v1_TenantUsage__Output } from '../../keyledger/v1/TenantUsage.js';
import type { TenantUsageRequest as _keyledger_v1_TenantUsageRequest, TenantUsageRequest__Output as _keyledger_v1_TenantUsageRequest__Output } from '../../keyledger/v1/TenantUsageRequest.js';

export interface UsageServiceDefinition {
  GetKeyUsage: MethodDefinition<_keyledger_v1_KeyUsageRequest, _keyledger_v1_KeyUsage, _keyledger_v1_KeyUsageRequest__Output, _keyledger_v1_KeyUsage__Output>
  GetRotationUsage: MethodDefinition<_keyledger_v1_RotationUsageRequest, _keyledger_v1_RotationUsage, _keyledger_v1_RotationUsageRequest__Output, _keyledger_v1_RotationUsage__Output>
  GetTenantUsage: MethodDefinition<_keyledger_v1_TenantUsageRequest, _keyledger_v1_TenantUsage, _keyledger_v1_TenantUsageRequest__Output, _keyledger_v1_TenantUsage__Output>
}
