// Original file: libs/contracts/proto/keyledger/v1/audit.proto

import type { MethodDefinition } from '@grpc/proto-loader'
import type { CheckKeyAtRequest as _keyledger_v1_CheckKeyAtRequest, CheckKeyAtRequest__Output as _keyledger_v1_CheckKeyAtRequest__Output } from '../../keyledger/v1/CheckKeyAtRequest.js';
import type { Checkpoint as _keyledger_v1_Checkpoint, Checkpoint__Output as _keyledger_v1_Checkpoint__Output } from '../../keyledger/v1/Checkpoint.js';
import type { ConsistencyProof as _keyledger_v1_ConsistencyProof, ConsistencyProof__Output as _keyledger_v1_ConsistencyProof__Output } from '../../keyledger/v1/ConsistencyProof.js';
import type { GetCheckpointRequest as _keyledger_v1_GetCheckpointRequest, GetCheckpointRequest__Output as _keyledger_v1_GetCheckpointRequest__Output } from '../../keyledger/v1/GetCheckpointRequest.js';
import type { GetConsistencyProofRequest as _keyledger_v1_GetConsistencyProofRequest, GetConsistencyProofRequest__Output as _keyledger_v1_GetConsistencyProofRequest__Output } from '../../keyledger/v1/GetConsistencyProofRequest.js';
import type { GetInclusionProofRequest as _keyledger_v1_GetInclusionProofRequest, GetInclusionProofRequest__Output as _keyledger_v1_GetInclusionProofRequest__Output } from '../../keyledger/v1/GetInclusionProofRequest.js';
import type { GetKeyAtRequest as _keyledger_v1_GetKeyAtRequest, GetKeyAtRequest__Output as _keyledger_v1_GetKeyAtRequest__Output } from '../../keyledger/v1/GetKeyAtRequest.js';
import type { GetKeyTrailRequest as _keyledger_v1_GetKeyTrailRequest, GetKeyTrailRequest__Output as _keyledger_v1_GetKeyTrailRequest__Output } from '../../keyledger/v1/GetKeyTrailRequest.js';
import type { GetPermissionReportRequest as _keyledger_v1_GetPermissionReportRequest, GetPermissionReportRequest__Output as _keyledger_v1_GetPermissionReportRequest__Output } from '../../keyledger/v1/GetPermissionReportRequest.js';
import type { InclusionProof as _keyledger_v1_InclusionProof, InclusionProof__Output as _keyledger_v1_InclusionProof__Output } from '../../keyledger/v1/InclusionProof.js';
import type { KeyAt as _keyledger_v1_KeyAt, KeyAt__Output as _keyledger_v1_KeyAt__Output } from '../../keyledger/v1/KeyAt.js';
import type { KeyCheck as _keyledger_v1_KeyCheck, KeyCheck__Output as _keyledger_v1_KeyCheck__Output } from '../../keyledger/v1/KeyCheck.js';
import type { KeyTrail as _keyledger_v1_KeyTrail, KeyTrail__Output as _keyledger_v1_KeyTrail__Output } from '../../keyledger/v1/KeyTrail.js';
import type { PermissionReport as _keyledger_v1_PermissionReport, PermissionReport__Output as _keyledger_v1_PermissionReport__Output } from '../../keyledger/v1/PermissionReport.js';
import type { SearchTrailRequest as _keyledger_v1_SearchTrailRequest, SearchTrailRequest__Output as _keyledger_v1_SearchTrailRequest__Output } from '../../keyledger/v1/SearchTrailRequest.js';
import type { TrailPage as _keyledger_v1_TrailPage, TrailPage__Output as _keyledger_v1_TrailPage__Output } from '../../keyledger/v1/TrailPage.js';

export interface AuditServiceDefinition {
  CheckKeyAt: MethodDefinition<_keyledger_v1_CheckKeyAtRequest, _keyledger_v1_KeyCheck, _keyledger_v1_CheckKeyAtRequest__Output, _keyledger_v1_KeyCheck__Output>
  GetCheckpoint: MethodDefinition<_keyledger_v1_GetCheckpointRequest, _keyledger_v1_Checkpoint, _keyledger_v1_GetCheckpointRequest__Output, _keyledger_v1_Checkpoint__Output>
  GetConsistencyProof: MethodDefinition<_keyledger_v1_GetConsistencyProofRequest, _keyledger_v1_ConsistencyProof, _keyledger_v1_GetConsistencyProofRequest__Output, _keyledger_v1_ConsistencyProof__Output>
  GetInclusionProof: MethodDefinition<_keyledger_v1_GetInclusionProofRequest, _keyledger_v1_InclusionProof, _keyledger_v1_GetInclusionProofRequest__Output, _keyledger_v1_InclusionProof__Output>
  GetKeyAt: MethodDefinition<_keyledger_v1_GetKeyAtRequest, _keyledger_v1_KeyAt, _keyledger_v1_GetKeyAtRequest__Output, _keyledger_v1_KeyAt__Output>
  GetKeyTrail: MethodDefinition<_keyledger_v1_GetKeyTrailRequest, _keyledger_v1_KeyTrail, _keyledger_v1_GetKeyTrailRequest__Output, _keyledger_v1_KeyTrail__Output>
  GetPermissionReport: MethodDefinition<_keyledger_v1_GetPermissionReportRequest, _keyledger_v1_PermissionReport, _keyledger_v1_GetPermissionReportRequest__Output, _keyledger_v1_PermissionReport__Output>
  SearchTrail: MethodDefinition<_keyledger_v1_SearchTrailRequest, _keyledger_v1_TrailPage, _keyledger_v1_SearchTrailRequest__Output, _keyledger_v1_TrailPage__Output>
}
