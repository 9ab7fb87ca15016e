import type {
  AnomalyThresholds,
  AnomalyThresholdsSetData,
  IncidentPolicySetData,
  NotificationWebhookSetData,
  OwnerPublicKeyRegisteredData,
  OwnerWebhookRegisteredData,
  RotationPolicySetData,
} from '@keyledger/contracts';
import { NO_ANOMALY_THRESHOLDS } from '@keyledger/contracts';
import type { IncidentPolicyTable } from './incident-policy.js';
import { evolveIncidentPolicies } from './incident-policy.js';
import type { OwnerWebhook, OwnerWebhookTable } from './key-delivery.js';
import { evolveOwnerWebhooks } from './key-delivery.js';
import type { OwnerPublicKeyTable } from './owner-public-keys.js';
import { evolveOwnerPublicKeys } from './owner-public-keys.js';
import type { RotationPolicyTable } from './rotation-policy.js';
import { evolveRotationPolicies } from './rotation-policy.js';

/** What a tenant's stream (`tenant-<tenant>`) holds besides its keys' streams: its policies and its owners' delivery settings. */
export interface TenantSettings {
  readonly rotationPolicies: RotationPolicyTable;
  readonly incidentPolicies: IncidentPolicyTable;
  /** Each owner's latest X25519 public key. */
  readonly ownerPublicKeys: OwnerPublicKeyTable;
  /** Each owner's latest webhook. */
  readonly ownerWebhooks: OwnerWebhookTable;
  /** The anomaly detector's thresholds for the tenant's keys (null: the installation's). */
  readonly anomalyThresholds: AnomalyThresholds;
  /** Where the tenant's notifications are also POSTed, signed (undefined: on NATS only). */
  readonly notificationWebhook: OwnerWebhook | undefined;
}

/** Every event of a tenant's stream. */
export type TenantEvent =
  | { readonly type: 'RotationPolicySet'; readonly data: RotationPolicySetData }
  | { readonly type: 'IncidentPolicySet'; readonly data: IncidentPolicySetData }
  | { readonly type: 'OwnerPublicKeyRegistered'; readonly data: OwnerPublicKeyRegisteredData }
  | { readonly type: 'OwnerWebhookRegistered'; readonly data: OwnerWebhookRegisteredData }
  | { readonly type: 'AnomalyThresholdsSet'; readonly data: AnomalyThresholdsSetData }
  | { readonly type: 'NotificationWebhookSet'; readonly data: NotificationWebhookSetData };

/** Every command on a tenant's stream: each replaces the setting of its level (tenant, or owner). */
export type TenantCommand =
  | { readonly type: 'SetRotationPolicy'; readonly data: RotationPolicySetData }
  | { readonly type: 'SetIncidentPolicy'; readonly data: IncidentPolicySetData }
  | { readonly type: 'RegisterOwnerPublicKey'; readonly data: OwnerPublicKeyRegisteredData }
  | { readonly type: 'RegisterOwnerWebhook'; readonly data: OwnerWebhookRegisteredData }
  | { readonly type: 'SetAnomalyThresholds'; readonly data: AnomalyThresholdsSetData }
  | { readonly type: 'SetNotificationWebhook'; readonly data: NotificationWebhookSetData };

/** A tenant with nothing set: every policy the installation's default, no owner reachable. */
export function initialTenantSettings(): TenantSettings {
  return {
    rotationPolicies: new Map(),
    incidentPolicies: new Map(),
    ownerPublicKeys: new Map(),
    ownerWebhooks: new Map(),
    anomalyThresholds: NO_ANOMALY_THRESHOLDS,
    notificationWebhook: undefined,
  };
}

/**
 * Decides a tenant-stream command. A setting is a replacement, so whatever the stream holds, a
 * well-formed command (its data passed the request's schema) is recorded as its one event.
 */
export function decideTenant(command: TenantCommand, _state: TenantSettings): TenantEvent[] {
  switch (command.type) {
    case 'SetRotationPolicy':
      return [{ type: 'RotationPolicySet', data: command.data }];
    case 'SetIncidentPolicy':
      return [{ type: 'IncidentPolicySet', data: command.data }];
    case 'RegisterOwnerPublicKey':
      return [{ type: 'OwnerPublicKeyRegistered', data: command.data }];
    case 'RegisterOwnerWebhook':
      return [{ type: 'OwnerWebhookRegistered', data: command.data }];
    case 'SetAnomalyThresholds':
      return [{ type: 'AnomalyThresholdsSet', data: command.data }];
    case 'SetNotificationWebhook':
      return [{ type: 'NotificationWebhookSet', data: command.data }];
    default:
      return command satisfies never;
  }
}

/** Folds one event of a tenant's stream. */
export function evolveTenant(state: TenantSettings, event: TenantEvent): TenantSettings {
  switch (event.type) {
    case 'RotationPolicySet':
      return { ...state, rotationPolicies: evolveRotationPolicies(state.rotationPolicies, event.data) };
    case 'IncidentPolicySet':
      return { ...state, incidentPolicies: evolveIncidentPolicies(state.incidentPolicies, event.data) };
    case 'OwnerPublicKeyRegistered':
      return { ...state, ownerPublicKeys: evolveOwnerPublicKeys(state.ownerPublicKeys, event.data) };
    case 'OwnerWebhookRegistered':
      return { ...state, ownerWebhooks: evolveOwnerWebhooks(state.ownerWebhooks, event.data) };
    case 'AnomalyThresholdsSet':
      return { ...state, anomalyThresholds: event.data.thresholds };
    case 'NotificationWebhookSet': {
      const { url, secretId } = event.data;
      return { ...state, notificationWebhook: url === null || secretId === null ? undefined : { url, secretId } };
    }
    default:
      return event satisfies never;
  }
}
