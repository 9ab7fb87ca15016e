// Original file: libs/contracts/proto/keyledger/v1/keys.proto

import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetKeyRequest as _keyledger_v1_GetKeyRequest, GetKeyRequest__Output as _keyledger_v1_GetKeyRequest__Output } from '../../keyledger/v1/GetKeyRequest.js';
import type { IncidentReport as _keyledger_v1_IncidentReport, IncidentReport__Output as _keyledger_v1_IncidentReport__Output } from '../../keyledger/v1/IncidentReport.js';
import type { IssueKeyRequest as _keyledger_v1_IssueKeyRequest, IssueKeyRequest__Output as _keyledger_v1_IssueKeyRequest__Output } from '../../keyledger/v1/IssueKeyRequest.js';
import type { IssueKeyResponse as _keyledger_v1_IssueKeyResponse, IssueKeyResponse__Output as _keyledger_v1_IssueKeyResponse__Output } from '../../keyledger/v1/IssueKeyResponse.js';
import type { KeyView as _keyledger_v1_KeyView, KeyView__Output as _keyledger_v1_KeyView__Output } from '../../keyledger/v1/KeyView.js';
import type { ListKeysRequest as _keyledger_v1_ListKeysRequest, ListKeysRequest__Output as _keyledger_v1_ListKeysRequest__Output } from '../../keyledger/v1/ListKeysRequest.js';
import type { ListKeysResponse as _keyledger_v1_ListKeysResponse, ListKeysResponse__Output as _keyledger_v1_ListKeysResponse__Output } from '../../keyledger/v1/ListKeysResponse.js';
import type { NotificationWebhook as _keyledger_v1_NotificationWebhook, NotificationWebhook__Output as _keyledger_v1_NotificationWebhook__Output } from '../../keyledger/v1/NotificationWebhook.js';
import type { OwnerWebhook as _keyledger_v1_OwnerWebhook, OwnerWebhook__Output as _keyledger_v1_OwnerWebhook__Output } from '../../keyledger/v1/OwnerWebhook.js';
import type { RegisterNotificationWebhookRequest as _keyledger_v1_RegisterNotificationWebhookRequest, RegisterNotificationWebhookRequest__Output as _keyledger_v1_RegisterNotificationWebhookRequest__Output } from '../../keyledger/v1/RegisterNotificationWebhookRequest.js';
import type { RegisterOwnerWebhookRequest as _keyledger_v1_RegisterOwnerWebhookRequest, RegisterOwnerWebhookRequest__Output as _keyledger_v1_RegisterOwnerWebhookRequest__Output } from '../../keyledger/v1/RegisterOwnerWebhookRequest.js';
import type { ReportAnomalyRequest as _keyledger_v1_ReportAnomalyRequest, ReportAnomalyRequest__Output as _keyledger_v1_ReportAnomalyRequest__Output } from '../../keyledger/v1/ReportAnomalyRequest.js';
import type { ReportLeakRequest as _keyledger_v1_ReportLeakRequest, ReportLeakRequest__Output as _keyledger_v1_ReportLeakRequest__Output } from '../../keyledger/v1/ReportLeakRequest.js';
import type { ResumeKeyRequest as _keyledger_v1_ResumeKeyRequest, ResumeKeyRequest__Output as _keyledger_v1_ResumeKeyRequest__Output } from '../../keyledger/v1/ResumeKeyRequest.js';
import type { RevokeKeyRequest as _keyledger_v1_RevokeKeyRequest, RevokeKeyRequest__Output as _keyledger_v1_RevokeKeyRequest__Output } from '../../keyledger/v1/RevokeKeyRequest.js';
import type { RevokeKeyResponse as _keyledger_v1_RevokeKeyResponse, RevokeKeyResponse__Output as _keyledger_v1_RevokeKeyResponse__Output } from '../../keyledger/v1/RevokeKeyResponse.js';
import type { RotateKeyRequest as _keyledger_v1_RotateKeyRequest, RotateKeyRequest__Output as _keyledger_v1_RotateKeyRequest__Output } from '../../keyledger/v1/RotateKeyRequest.js';
import type { RotateKeyResponse as _keyledger_v1_RotateKeyResponse, RotateKeyResponse__Output as _keyledger_v1_RotateKeyResponse__Output } from '../../keyledger/v1/RotateKeyResponse.js';
import type { SuspendKeyRequest as _keyledger_v1_SuspendKeyRequest, SuspendKeyRequest__Output as _keyledger_v1_SuspendKeyRequest__Output } from '../../keyledger/v1/SuspendKeyRequest.js';
import type { TopUpCreditsRequest as _keyledger_v1_TopUpCreditsRequest, TopUpCreditsRequest__Output as _keyledger_v1_TopUpCreditsRequest__Output } from '../../keyledger/v1/TopUpCreditsRequest.js';
import type { UpdateKeyRequest as _keyledger_v1_UpdateKeyRequest, UpdateKeyRequest__Output as _keyledger_v1_UpdateKeyRequest__Output } from '../../keyledger/v1/UpdateKeyRequest.js';

export interface KeyServiceDefinition {
  GetKey: MethodDefinition<_keyledger_v1_GetKeyRequest, _keyledger_v1_KeyView, _keyledger_v1_GetKeyRequest__Output, _keyledger_v1_KeyView__Output>
  IssueKey: MethodDefinition<_keyledger_v1_IssueKeyRequest, _keyledger_v1_IssueKeyResponse, _keyledger_v1_IssueKeyRequest__Output, _keyledger_v1_IssueKeyResponse__Output>
  ListKeys: MethodDefinition<_keyledger_v1_ListKeysRequest, _keyledger_v1_ListKeysResponse, _keyledger_v1_ListKeysRequest__Output, _keyledger_v1_ListKeysResponse__Output>
  RegisterNotificationWebhook: MethodDefinition<_keyledger_v1_RegisterNotificationWebhookRequest, _keyledger_v1_NotificationWebhook, _keyledger_v1_RegisterNotificationWebhookRequest__Output, _keyledger_v1_NotificationWebhook__Output>
  RegisterOwnerWebhook: MethodDefinition<_keyledger_v1_RegisterOwnerWebhookRequest, _keyledger_v1_OwnerWebhook, _keyledger_v1_RegisterOwnerWebhookRequest__Output, _keyledger_v1_OwnerWebhook__Output>
  ReportAnomaly: MethodDefinition<_keyledger_v1_ReportAnomalyRequest, _keyledger_v1_IncidentReport, _keyledger_v1_ReportAnomalyRequest__Output, _keyledger_v1_IncidentReport__Output>
  ReportLeak: MethodDefinition<_keyledger_v1_ReportLeakRequest, _keyledger_v1_IncidentReport, _keyledger_v1_ReportLeakRequest__Output, _keyledger_v1_IncidentReport__Output>
  ResumeKey: MethodDefinition<_keyledger_v1_ResumeKeyRequest, _keyledger_v1_KeyView, _keyledger_v1_ResumeKeyRequest__Output, _keyledger_v1_KeyView__Output>
  RevokeKey: MethodDefinition<_keyledger_v1_RevokeKeyRequest, _keyledger_v1_RevokeKeyResponse, _keyledger_v1_RevokeKeyRequest__Output, _keyledger_v1_RevokeKeyResponse__Output>
  RotateKey: MethodDefinition<_keyledger_v1_RotateKeyRequest, _keyledger_v1_RotateKeyResponse, _keyledger_v1_RotateKeyRequest__Output, _keyledger_v1_RotateKeyResponse__Output>
  SuspendKey: MethodDefinition<_keyledger_v1_SuspendKeyRequest, _keyledger_v1_KeyView, _keyledger_v1_SuspendKeyRequest__Output, _keyledger_v1_KeyView__Output>
  TopUpCredits: MethodDefinition<_keyledger_v1_TopUpCreditsRequest, _keyledger_v1_KeyView, _keyledger_v1_TopUpCreditsRequest__Output, _keyledger_v1_KeyView__Output>
  UpdateKey: MethodDefinition<_keyledger_v1_UpdateKeyRequest, _keyledger_v1_KeyView, _keyledger_v1_UpdateKeyRequest__Output, _keyledger_v1_KeyView__Output>
}
