// Original file: libs/contracts/proto/keyledger/v1/usage.proto

import type { GraceEnded as _keyledger_v1_GraceEnded, GraceEnded__Output as _keyledger_v1_GraceEnded__Output } from '../../keyledger/v1/GraceEnded.js';
import type { RotationSource as _keyledger_v1_RotationSource, RotationSource__Output as _keyledger_v1_RotationSource__Output } from '../../keyledger/v1/RotationSource.js';
import type { Long } from '@grpc/proto-loader';

export interface RotationUsage {
  /**
   * The rotated (old) key and its replacement.
   */
  'keyId'?: (string);
  'replacedBy'?: (string);
  'tenant'?: (string);
  'owner'?: (string);
  'rotatedAt'?: (string);
  /**
   * The grace end the rotation recorded.
   */
  'graceEndsAt'?: (string);
  'emergency'?: (boolean);
  /**
   * The quiet period recorded with the rotation; unset: the grace runs its full length.
   */
  'quietPeriodMs'?: (number | string | Long);
  /**
   * Set when the grace ended early.
   */
  'graceEnded'?: (_keyledger_v1_GraceEnded | null);
  /**
   * The old key's status now: active, suspended, revoked or expired.
   */
  'status'?: (string);
  'expiresAt'?: (string);
  /**
   * The old key's last use, whenever it was; unset if never.
   */
  'lastUsedAt'?: (string);
  /**
   * Calls with the old key since the rotation (counted from its hour), by source, most recently seen first.
   */
  'callsSinceRotation'?: (number | string | Long);
  'invalidSinceRotation'?: (number | string | Long);
  'sources'?: (_keyledger_v1_RotationSource)[];
  /**
   * Usage is complete up to about this instant; unset when the auditor cannot tell.
   */
  'ingestedUntil'?: (string);
  '_rotatedAt'?: "rotatedAt";
  '_quietPeriodMs'?: "quietPeriodMs";
  '_graceEnded'?: "graceEnded";
  '_expiresAt'?: "expiresAt";
  '_lastUsedAt'?: "lastUsedAt";
  '_ingestedUntil'?: "ingestedUntil";
}

export interface RotationUsage__Output {
  /**
   * The rotated (old) key and its replacement.
   */
  'keyId': (string);
  'replacedBy': (string);
  'tenant': (string);
  'owner': (string);
  'rotatedAt'?: (string);
  /**
   * The grace end the rotation recorded.
   */
  'graceEndsAt': (string);
  'emergency': (boolean);
  /**
   * The quiet period recorded with the rotation; unset: the grace runs its full length.
   */
  'quietPeriodMs'?: (string);
  /**
   * Set when the grace ended early.
   */
  'graceEnded'?: (_keyledger_v1_GraceEnded__Output | null);
  /**
   * The old key's status now: active, suspended, revoked or expired.
   */
  'status': (string);
  'expiresAt'?: (string);
  /**
   * The old key's last use, whenever it was; unset if never.
   */
  'lastUsedAt'?: (string);
  /**
   * Calls with the old key since the rotation (counted from its hour), by source, most recently seen first.
   */
  'callsSinceRotation': (string);
  'invalidSinceRotation': (string);
  'sources': (_keyledger_v1_RotationSource__Output)[];
  /**
   * Usage is complete up to about this instant; unset when the auditor cannot tell.
   */
  'ingestedUntil'?: (string);
  '_rotatedAt'?: "rotatedAt";
  '_quietPeriodMs'?: "quietPeriodMs";
  '_graceEnded'?: "graceEnded";
  '_expiresAt'?: "expiresAt";
  '_lastUsedAt'?: "lastUsedAt";
  '_ingestedUntil'?: "ingestedUntil";
}
